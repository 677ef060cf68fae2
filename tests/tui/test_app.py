"""The Textual app driven by Pilot on the real model: chat, stop, regenerate, edit, copy, personas."""

from __future__ import annotations

import pytest
from ember.tui.app.widgets.message_view import MessageView
from ember.tui.app.widgets.status_line import StatusLine

from tests.tui.conftest import send, wait_for

pytestmark = pytest.mark.timeout(120)

CODE_ANSWER = "Here you go:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nAnd in shell:\n\n```bash\necho hi\n```\n"


async def test_a_prompt_streams_an_answer_saved_with_the_question(make_app, history):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Say hello.")
        chat = app.chat_screen()
        views = chat.views()
        assert [v.role for v in views] == ["user", "assistant"]
        answer = app.session.turns[-1].content
        assert answer.strip()
        assert views[-1].markdown.source == answer
        status = chat.query_one(StatusLine).status
        assert status.tokens_per_second > 0
        assert 0 < status.context_used <= status.num_ctx == 4096
        stored = history.messages(app.session.conversation_id)
        assert [(m.role, m.content) for m in stored] == [("user", "Say hello."), ("assistant", answer)]


async def test_escape_stops_an_answer_and_keeps_what_was_said(make_app, history):
    app = make_app()
    app.session.overrides["num_predict"] = 400
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        chat.prompt.text = "Write a very long story about the sea."
        await pilot.press("enter")
        await wait_for(pilot, lambda: chat.answering and chat.query_one(StatusLine).status.state == "answering")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not chat.answering, timeout=10)
        assert chat.query_one(StatusLine).status.state == "stopped"
        partial = app.session.turns[-1]
        assert partial.role == "assistant" and partial.content
        assert history.messages(app.session.conversation_id)[-1].content == partial.content


async def test_regenerate_replaces_the_last_answer(make_app, history):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Name a colour.")
        app.session.overrides.update({"num_predict": 4})
        first = app.session.turns[-1]
        await pilot.press("ctrl+r")
        chat = app.chat_screen()
        await wait_for(pilot, lambda: not chat.answering and len(app.session.turns) == 2
                       and app.session.turns[-1] is not first)
        assert [t.role for t in app.session.turns] == ["user", "assistant"]
        assert len(chat.views()) == 2
        stored = history.messages(app.session.conversation_id)
        assert [(m.role, m.content) for m in stored] == [(t.role, t.content) for t in app.session.turns]


async def test_edit_last_takes_the_message_back_into_the_prompt(make_app, history):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Name a fruit.")
        await pilot.press("ctrl+e")
        chat = app.chat_screen()
        assert chat.prompt.text == "Name a fruit."
        assert app.session.turns == [] and chat.views() == []
        assert history.messages(app.session.conversation_id) == []
        chat.prompt.text = "Name a vegetable."
        await pilot.press("enter")
        await wait_for(pilot, lambda: not chat.answering and len(app.session.turns) == 2)
        assert app.session.turns[0].content == "Name a vegetable."


async def test_copy_code_copies_the_last_block_and_says_what(make_app, history):
    conversation = history.new_conversation(model="smollm2:135m")
    history.add_message(conversation.id, "user", "code please")
    history.add_message(conversation.id, "assistant", CODE_ANSWER)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.open_conversation(conversation.id)
        await pilot.press("ctrl+y")
        assert app.clipboard == "echo hi\n"
        assert any("Copied bash block (1 line)" in n.message for n in app._notifications)
        await pilot.press("alt+y")
        await pilot.press("up", "enter")
        assert app.clipboard == "def add(a, b):\n    return a + b\n"
        fences = app.chat_screen().query("LabeledFence")
        assert [f.language for f in fences] == ["python", "bash"]


async def test_persona_hotkeys_switch_persona_and_keep_the_conversation(make_app):
    app = make_app()
    first, second = app.personas[0], app.personas[1]
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Hello.")
        await pilot.press("alt+1")
        assert app.session.persona.slug == first.slug
        await pilot.press("alt+2")
        assert app.session.persona.slug == second.slug
        request = app.session.request()
        assert request.messages[0].role == "system" and request.messages[0].content == second.system
        assert [m.content for m in request.messages[-2:]] == ["Hello.", app.session.turns[-1].content]
        assert request.options == second.parameters  # the persona's parameters take over
        assert second.title in app.chat_screen().query_one(StatusLine).status.render()
        await pilot.press("alt+0")
        assert app.session.persona is None
        await pilot.press("alt+p")
        await pilot.press("down", "enter")
        assert app.session.persona.slug == first.slug
        assert len(app.session.turns) == 2


async def test_every_chat_binding_is_in_the_command_palette(make_app):
    from ember.tui.app.palette import BindingsProvider

    app = make_app()
    async with app.run_test(size=(80, 24)):
        provider = BindingsProvider(app.chat_screen())
        labels = {label for label, _key, _run in provider._commands()}
        for expected in ("Stop", "Regen", "Copy", "Models", "Params", "Chats", "Persona"):
            assert expected in labels
        assert f"Persona: {app.personas[0].title}" in labels


async def test_keys_can_be_remapped(make_app):
    app = make_app(keymap={"library": "ctrl+g"})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+g")
        assert app.screen.id == "library"


async def test_the_theme_choice_persists(make_app, session_home):
    from ember.backend.config import config_dir

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "ember-dark"
        assert {"ember-dark", "ember-light", "ember-ansi"} <= set(app.available_themes)
        app.theme = "ember-light"
        await pilot.pause()
    assert 'theme = "ember-light"' in (config_dir() / "config.toml").read_text()


async def test_a_users_theme_loads_and_a_broken_one_is_reported(make_app, tmp_path):
    user = tmp_path / "user-themes"
    user.mkdir()
    (user / "mine.toml").write_text('name = "mine"\nprimary = "#336699"\ndark = true\n')
    (user / "broken.toml").write_text('primary = "not a colour"\n')
    app = make_app()
    async with app.run_test(size=(80, 24)):
        assert "mine" in app.available_themes
        assert any("broken.toml" in n.message for n in app._notifications)


async def test_80x24_shows_the_prompt_status_and_footer(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        chat = app.chat_screen()
        assert chat.prompt.region.bottom <= 22
        status = chat.query_one(StatusLine)
        assert status.region.y == 22 and "smollm2:135m" in str(status.render())
        assert not chat.query(MessageView)


async def test_an_idle_app_redraws_nothing_not_even_a_blinking_cursor(make_app):
    """Each redraw costs the app's thread (taken from the model's on a small machine) and bytes over SSH."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        prompt = app.chat_screen().prompt
        drawn: list[int] = []
        original = prompt.render_line

        def counting(y: int):  # type: ignore[no-untyped-def]
            drawn.append(y)
            return original(y)

        prompt.render_line = counting  # type: ignore[method-assign]
        await pilot.pause(1.6)  # three blinks' worth at Textual's 0.5 s
        assert drawn == [] and prompt.has_focus
