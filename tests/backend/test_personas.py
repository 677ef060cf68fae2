"""The personas that ship in modelfiles/, the user's own, and their installation on first use."""

from __future__ import annotations

from pathlib import Path

import pytest
from ember.backend.errors import ModelfileError, ModelNotFound
from ember.backend.models.personas import NAMESPACE, SHIPPED_DIR, Persona, ensure_personas, load_personas
from ember.backend.parameters import validate
from ember.backend.store.names import parse_name
from ember.backend.types import ChatRequest, Message

SHIPPED = load_personas(Path("/nonexistent"))
EXPECTED = {"architect", "reviewer", "tutor", "shell", "translator", "editor"}


def test_at_least_six_personas_ship_each_with_a_title_an_order_and_a_valid_modelfile():
    assert EXPECTED <= {p.slug for p in SHIPPED}
    assert [p.order for p in SHIPPED] == list(range(1, len(SHIPPED) + 1))
    for persona in SHIPPED:
        assert persona.source == SHIPPED_DIR / f"{persona.slug}.Modelfile"
        assert persona.model == f"{NAMESPACE}/{persona.slug}:latest"
        assert persona.base == "smollm2:135m"
        assert persona.title and len(persona.title) <= 16
        assert persona.system and len(persona.system) <= 200, "a 135M model needs a short system prompt"
        assert validate(persona.parameters) == persona.parameters
        assert persona.messages and [m.role for m in persona.messages][::2] == ["user"] * (len(persona.messages) // 2)
        assert persona.messages[-1].role == "assistant"


def test_the_architect_is_the_seeds_persona_and_comes_first():
    architect = SHIPPED[0]
    assert architect.slug == "architect" and architect.title == "Architect"
    assert architect.system == "You are a Senior AI Architect. Give concise, technical answers."
    assert architect.parameters["temperature"] == 0.2


def test_user_personas_come_after_the_shipped_ones_and_may_replace_one(tmp_path):
    (tmp_path / "haiku.Modelfile").write_text("FROM smollm2:135m\nSYSTEM Answer in a haiku.\n")
    (tmp_path / "sql.Modelfile").write_text("# title: SQL helper\n# order: 2\nFROM smollm2:135m\nSYSTEM SQL only.\n")
    (tmp_path / "editor.Modelfile").write_text("# title: My editor\nFROM smollm2:135m\nSYSTEM Fix typos.\n")
    (tmp_path / "notes.txt").write_text("not a persona")
    personas = {p.slug: p for p in load_personas(tmp_path)}
    assert personas["haiku"].title == "Haiku" and personas["haiku"].order > len(SHIPPED)
    assert personas["sql"].title == "SQL helper" and personas["sql"].order == 2
    assert personas["editor"].title == "My editor" and personas["editor"].system == "Fix typos."
    assert personas["editor"].source.parent == tmp_path
    assert "notes" not in personas


def test_a_broken_user_persona_is_left_out_and_reported(tmp_path):
    (tmp_path / "broken.Modelfile").write_text("FROM smollm2:135m\nPARAMETER temprature 1\n")
    (tmp_path / "Bad Name.Modelfile").write_text("FROM smollm2:135m\n")
    problems: list = []
    personas = load_personas(tmp_path, problems=problems)
    assert {p.slug for p in personas} == {p.slug for p in SHIPPED}
    messages = sorted(str(p) for p in problems)
    assert len(messages) == 2 and all(isinstance(p, ModelfileError) for p in problems)
    assert any("broken.Modelfile: Modelfile line 2" in m and 'did you mean "temperature"' in m for m in messages)


async def test_ensure_personas_creates_missing_ones_and_leaves_current_ones_alone(backend, tmp_path):
    (tmp_path / "pirate.Modelfile").write_text("FROM smollm2:135m\nSYSTEM Talk like a pirate.\n"
                                               "PARAMETER temperature 0.4\n")
    pirate = next(p for p in load_personas(tmp_path) if p.slug == "pirate")
    await ensure_personas(backend, [pirate])
    info = await backend.show(pirate.model)
    assert info.system == "Talk like a pirate." and info.parameters == {"temperature": 0.4}
    manifest = backend.store.manifest_path(parse_name(pirate.model))
    stamp = manifest.stat().st_mtime_ns
    await ensure_personas(backend, [pirate])
    assert manifest.stat().st_mtime_ns == stamp

    (tmp_path / "pirate.Modelfile").write_text("FROM smollm2:135m\nSYSTEM Talk like a very old pirate.\n")
    changed = next(p for p in load_personas(tmp_path) if p.slug == "pirate")
    await ensure_personas(backend, [changed])
    info = await backend.show(pirate.model)
    assert info.system == "Talk like a very old pirate." and info.parameters == {}
    await backend.delete(pirate.model)


async def test_a_shipped_persona_installs_itself_on_first_use(backend):
    try:
        await backend.delete("persona/shell")
    except ModelNotFound:
        pass
    assert "persona/shell:latest" not in {m.name for m in await backend.list_models()}
    info = await backend.show("persona/shell")
    assert info.name == "persona/shell:latest" and "shell command" in info.system
    with pytest.raises(ModelNotFound):
        await backend.show("persona/nosuch")
    with pytest.raises(ModelNotFound):
        await backend.delete("persona/translator:other-tag")


@pytest.mark.parametrize("persona", SHIPPED, ids=[p.slug for p in SHIPPED])
async def test_every_shipped_persona_creates_and_answers(backend, persona: Persona):
    await ensure_personas(backend, [persona])
    info = await backend.show(persona.model)
    assert info.system == persona.system
    assert [(m.role, m.content) for m in info.messages] == [(m.role, m.content) for m in persona.messages]
    question = persona.messages[0].content
    text, final = "", None
    async for chunk in backend.chat(ChatRequest(persona.model, [Message("user", question)],
                                                options={"num_predict": 8, "temperature": 0})):
        text += chunk.text
        final = chunk if chunk.done else final
    assert final is not None and final.timings.eval_count > 0
    assert text.strip()
