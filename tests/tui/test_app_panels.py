"""The app's panels through Pilot: model library, parameters, conversations; and when the app opens."""

from __future__ import annotations

import argparse

import pytest
from ember.tui.launch import wants_plain

from tests.tui.conftest import wait_for

pytestmark = pytest.mark.timeout(120)


async def type_into(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*[{" ": "space", ".": "full_stop", ":": "colon", "/": "slash", "-": "minus"}.get(c, c)
                        for c in text])


async def test_library_lists_details_copies_and_deletes_with_confirmation(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+l")
        library = app.screen
        assert library.id == "library"
        await wait_for(pilot, lambda: "smollm2:135m" in library.infos)
        row = library.table.get_row("smollm2:135m")
        assert row[0] == "smollm2:135m" and row[2] == "Q4_1" and row[3] == "llama" and row[5] == "8192"
        details = str(library.query_one("#details").render())
        assert "context length    8192" in details
        await pilot.press("m")
        assert "FROM " in str(library.query_one("#details").render())

        await pilot.press("c")
        field = app.screen.query_one("Input")
        field.value = "mine/smol:copy"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "mine/smol:copy" in library.infos)
        assert "mine/smol:copy" in [m.name for m in await app.backend.list_models()]

        library.table.move_cursor(row=[m.name for m in library.models].index("mine/smol:copy"))
        await pilot.press("d")
        assert type(app.screen).__name__ == "ConfirmScreen"
        await pilot.press("n")
        assert "mine/smol:copy" in [m.name for m in await app.backend.list_models()]
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: "mine/smol:copy" not in [m.name for m in library.models])
        assert "mine/smol:copy" not in [m.name for m in await app.backend.list_models()]
        library.table.move_cursor(row=[m.name for m in library.models].index("smollm2:135m"))
        await pilot.press("enter")
        assert app.screen.id == "chat" and app.session.model == "smollm2:135m"


async def test_library_pull_shows_progress_and_a_bad_name_is_one_line(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+l")
        await pilot.press("p")
        app.screen.query_one("Input").value = "no/such:model"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("cannot pull" in n.message for n in app._notifications))
        await pilot.press("p")
        app.screen.query_one("Input").value = "smollm2:135m"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("Pulling smollm2:135m: done" in n.message for n in app._notifications))


async def test_parameters_show_sources_validate_live_and_apply_next_turn(make_app):
    app = make_app()
    app.session.overrides.clear()
    await_persona = app.personas[0]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("alt+1")
        await pilot.press("ctrl+o")
        panel = app.screen
        assert panel.id == "parameters"
        from ember.backend.parameters import PARAMETERS

        assert panel.names == list(PARAMETERS)
        sources = {name: panel.table.get_row(name)[2] for name in panel.names}
        for name in await_persona.parameters:
            assert sources[name] == "persona"
        assert sources["mirostat"] == "default"

        panel.table.move_cursor(row=panel.names.index("top_k"))
        await pilot.press("enter")
        field = panel.query_one("Input")
        assert field.has_focus
        field.value = ""
        await type_into(pilot, "1.5")
        assert field.has_class("-invalid")
        assert "top_k expects an integer" in str(panel.query_one("#problem").render())
        field.value = ""
        await type_into(pilot, "7")
        assert not field.has_class("-invalid")
        await pilot.press("enter")
        assert panel.table.get_row("top_k")[1:] == ["7", "override"]
        assert app.session.request().options["top_k"] == 7

        await pilot.press("x")
        assert panel.table.get_row("top_k")[2] == "default"
        assert "top_k" not in app.session.request().options


async def test_parameters_save_to_the_users_modelfile_and_the_persona_model(make_app, backend, tmp_path):
    from ember.backend.models.personas import ensure_personas, load_personas

    user_dir = tmp_path / "user-personas"
    app = make_app(persona_dir=user_dir)
    app.session.overrides.clear()
    persona = app.personas[0]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("alt+1", "ctrl+o")
        panel = app.screen
        panel.table.move_cursor(row=panel.names.index("top_k"))
        await pilot.press("enter")
        panel.query_one("Input").value = "11"
        await pilot.press("enter", "ctrl+s")
        await wait_for(pilot, lambda: any(f"the model {persona.model}" in n.message for n in app._notifications)
                       or any("Could not save" in (n.title or "") for n in app._notifications))
        saved = (user_dir / f"{persona.slug}.Modelfile").read_text()
        assert saved.startswith(f"# title: {persona.title}\n# order: {persona.order}\n")
        assert "PARAMETER top_k 11" in saved and f"FROM {persona.base}" in saved
        info = await backend.show(persona.model)
        assert info.parameters["top_k"] == 11
        assert info.system == persona.system
        assert app.session.persona.parameters["top_k"] == 11 and not app.session.overrides
        assert app.session.persona.source == user_dir / f"{persona.slug}.Modelfile"
    # the user's Modelfile now overrides the shipped one, so the next start keeps the saved parameters
    mine = next(p for p in load_personas(user_dir) if p.slug == persona.slug)
    assert mine.parameters["top_k"] == 11 and mine.title == persona.title and mine.order == persona.order
    await ensure_personas(backend, [mine])
    assert (await backend.show(persona.model)).parameters["top_k"] == 11
    await backend.delete(persona.model)


async def test_conversations_search_open_rename_export_delete(make_app, history, tmp_path):
    sea = history.new_conversation(model="smollm2:135m")
    history.add_message(sea.id, "user", "Tell me about lighthouses")
    history.add_message(sea.id, "assistant", "Lighthouses guide ships.")
    other = history.new_conversation(model="smollm2:135m")
    history.add_message(other.id, "user", "Bake bread")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+f")
        panel = app.screen
        assert panel.id == "conversations"
        assert [c.id for c in panel.rows] == [other.id, sea.id]
        await type_into(pilot, "lighth")
        assert [c.id for c in panel.rows] == [sea.id]
        assert "[Lighthouses]" in str(panel.query_one("#snippet").render()) or \
            "[lighthouses]" in str(panel.query_one("#snippet").render())

        await pilot.press("ctrl+r")
        app.screen.query_one("Input").value = "Lights"
        await pilot.press("enter")
        assert history.conversation(sea.id).title == "Lights"

        target = tmp_path / "lights.md"
        await pilot.press("ctrl+x")
        app.screen.query_one("Input").value = str(target)
        await pilot.press("enter")
        assert target.read_text().startswith("# Lights")

        await pilot.press("enter")
        assert app.screen.id == "chat"
        assert [t.content for t in app.session.turns] == ["Tell me about lighthouses", "Lighthouses guide ships."]
        assert len(app.chat_screen().views()) == 2

        await pilot.press("ctrl+f")
        panel = app.screen
        panel.table.move_cursor(row=[c.id for c in panel.rows].index(other.id))
        await pilot.press("ctrl+d", "y")
        assert other.id not in [c.id for c in history.conversations()]


@pytest.mark.parametrize(("plain", "term", "expected"), [(True, "xterm-256color", True), (False, "dumb", True),
                                                         (False, "", True)])
def test_the_plain_chat_is_used_when_asked_or_on_a_dumb_terminal(plain, term, expected):
    assert wants_plain(argparse.Namespace(plain=plain), {"TERM": term}) is expected


def test_the_plain_chat_is_used_when_output_is_not_a_terminal():
    # under pytest stdout is captured, so it is not a terminal
    assert wants_plain(argparse.Namespace(plain=False), {"TERM": "xterm-256color"}) is True


async def test_the_configured_context_length_shows_as_the_config_s_in_the_panel_and_the_status(make_app, config):
    from dataclasses import replace

    from ember.backend.local.local_backend import LocalBackend

    app = make_app(backend=LocalBackend(replace(config, context_length=2048)))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "ctx 0/2048" in str(app.screen.query_one("StatusLine").render()),
                       explain=lambda: str(app.screen.query_one("StatusLine").render()))
        await pilot.press("ctrl+o")
        panel = app.screen
        assert panel.table.get_row("num_ctx")[1:] == ["2048", "config"]
        assert panel.table.get_row("num_predict")[2] == "override"
