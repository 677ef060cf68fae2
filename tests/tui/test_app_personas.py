"""A persona's parameters saved from the app: the Modelfile written to the user's directory."""

from __future__ import annotations

from pathlib import Path

from ember.backend.models.modelfile import parse_modelfile
from ember.backend.models.personas import load_personas, read_persona
from ember.tui.app.personas import persona_modelfile


def test_the_saved_modelfile_keeps_the_header_comments_and_the_rest(tmp_path: Path):
    shipped = next(p for p in load_personas(tmp_path / "none") if p.slug == "reviewer")
    text = persona_modelfile(shipped, {"temperature": 0.5, "stop": ["###", "END"]})
    header = text.splitlines()[:3]
    assert header[:2] == ["# title: Code reviewer", "# order: 2"] and header[2].startswith("# Reviews")
    saved = parse_modelfile(text)
    original = shipped.modelfile()
    assert saved.parameters == {"temperature": 0.5, "stop": ("###", "END")}
    assert (saved.base, saved.system, saved.messages) == (original.base, original.system, original.messages)


def test_a_relative_from_file_still_resolves_from_the_users_directory(tmp_path: Path, smollm2_gguf: Path):
    source = tmp_path / "elsewhere"
    source.mkdir()
    (source / "weights.gguf").symlink_to(smollm2_gguf)
    (source / "local.Modelfile").write_text("FROM ./weights.gguf\nSYSTEM Be kind.\n")
    persona = read_persona(source / "local.Modelfile", default_order=9)
    text = persona_modelfile(persona, {"top_k": 3})
    assert text.startswith("# title: Local\n# order: 9\n")
    assert parse_modelfile(text).base == str(source / "weights.gguf")
