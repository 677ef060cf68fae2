"""The app's keys, palette, notifications and narrow layout as a keyboard user meets them (Pilot)."""

from __future__ import annotations

import pytest

from tests.tui.conftest import screen_text, wait_for

pytestmark = pytest.mark.timeout(120)


def test_the_readme_key_table_is_the_apps():
    from pathlib import Path

    from ember.tui.app.keyhelp import key_table

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    app_section = readme[readme.index("## The app"):]
    assert key_table() in app_section



async def test_f1_lists_embers_keys_first_and_a_panels_own_before_them(make_app):
    from ember.tui.app.screens.keys import KeysScreen

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, KeysScreen)
        document = app.screen.document()
        assert document.index("Ctrl+R") < document.index("Editing the prompt")
        assert "regenerate the last answer" in document
        await pilot.press("escape")
        assert app.screen.id == "chat"
        await pilot.press("ctrl+l", "f1")
        document = app.screen.document()
        assert document.index("This panel (library)") < document.index("regenerate the last answer")
        assert "Modelfile" in document.split("## Keys")[0]



async def test_shortcuts_are_the_apps_keys_and_ctrl_c_stops_the_answer(make_app):
    from tests.tui.test_app_commands import command

    app = make_app()
    app.session.overrides["num_predict"] = 400
    async with app.run_test(size=(80, 24)) as pilot:
        note = await command(pilot, "/? shortcuts")
        assert "Ctrl+L" in note.output and "Ctrl+Y / Alt+Y" in note.output
        assert "Move to the beginning of the line" not in note.output and "Ctrl + d" not in note.output
        chat = app.chat_screen()
        chat.prompt.text = "Write a very long story about the sea."
        await pilot.press("enter")
        await wait_for(pilot, lambda: chat.answering and chat.query_one("StatusLine").status.state == "answering")
        chat.prompt.text = "The next question."
        await pilot.press("enter")  # still answering: the message stays in the prompt
        assert chat.prompt.text == "The next question."
        assert any(n.message.startswith("Still answering") for n in app._notifications)
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: not chat.answering, timeout=10)
        assert app.session.turns[-1].role == "assistant" and app.session.turns[-1].content
        assert not any("quit" in (n.title or "") for n in app._notifications)
        await pilot.press("ctrl+c")  # nothing to stop: it says how to quit
        assert any("Do you want to quit?" == n.title for n in app._notifications)



async def test_the_palette_offers_embers_actions_not_the_prompts_cursor_keys(make_app):
    from ember.tui.app.palette import BindingsProvider, ChatCommandsProvider

    app = make_app()
    async with app.run_test(size=(80, 24)):
        chat = app.chat_screen()
        assert chat.focused is chat.prompt
        labels = [label for label, _key, _run in BindingsProvider(chat)._commands()]
        assert "Regen" in labels and "Models" in labels
        assert not [label for label in labels if label.lower().startswith("cursor")]
        provider = ChatCommandsProvider(chat)
        hits = [hit.text async for hit in provider.search("theme")]
        assert "/retry" not in hits
        assert "/retry" in [hit.text async for hit in provider.search("again")]



async def test_toasts_leave_the_prompt_and_the_status_line_in_sight(make_app):
    from textual.widgets._toast import Toast

    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        app.notify("A note long enough to take two or three lines of the toast at eighty columns wide.")
        chat = app.chat_screen()
        await wait_for(pilot, lambda: bool(chat.query(Toast)), timeout=5)
        toast = chat.query(Toast).last()
        assert toast.region.bottom <= chat.prompt.region.y



async def test_an_unknown_theme_in_the_config_is_reported(make_app, config):
    import dataclasses

    app = make_app(config=dataclasses.replace(config, theme="nosuch"))
    async with app.run_test(size=(80, 24)):
        assert app.theme == "ember-dark"
        assert any('theme "nosuch" is not a theme' in n.message for n in app._notifications)



def test_a_narrow_status_line_drops_the_least_needed_parts_first():
    from ember.tui.app.widgets.status_line import Status

    status = Status(model="smollm2:135m", persona="", state="answering", tokens_per_second=3.1,
                    context_used=48, num_ctx=4096, first_token_ms=120)
    assert status.render(200) == ("smollm2:135m · no persona · answering · 3.1 tok/s · first token 120 ms · "
                                  "ctx 48/4096")
    assert status.render(50) == "smollm2:135m · answering · 3.1 tok/s · ctx 48/4096"
    assert status.render(30) == "smollm2:135m · ctx 48/4096"
    assert len(status.render(8)) == 8



async def test_at_60x20_the_status_line_keeps_the_model_and_the_context(make_app):
    app = make_app()
    async with app.run_test(size=(60, 20)) as pilot:
        chat = app.chat_screen()
        chat.refresh_status(state="answering", tokens_per_second=3.1, first_token_ms=120.0)
        await pilot.pause()
        line = screen_text(app).splitlines()[chat.query_one("StatusLine").region.y]
        assert "smollm2:135m" in line and "ctx 0/4096" in line and "first token" not in line


async def test_at_60x20_the_footer_drops_the_least_needed_keys_instead_of_cutting_them(make_app):
    app = make_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_for(pilot, lambda: screen_text(app).splitlines()[-1].strip(), timeout=10)  # a slow first paint
        footer = screen_text(app).splitlines()[-1].rstrip()
        assert "Stop" in footer and "Models" in footer and "Persona" not in footer
        assert len(footer) <= 60 and not footer.endswith(("Ch", "Pe", "Pa"))
        await pilot.resize_terminal(100, 24)
        await wait_for(pilot, lambda: "Persona" in screen_text(app).splitlines()[-1], timeout=10,
                       explain=lambda: screen_text(app).splitlines()[-1])
