"""Slash commands typed in the app's prompt, through Pilot on the real model: they run through the shared
ChatSession and never reach the model; Tab completion, the hint line, the palette, multi-line input."""

from __future__ import annotations

import re

import pytest
from ember.tui.app.widgets.command_note import CommandNote
from ember.tui.app.widgets.status_line import StatusLine
from ember.tui.chat.slash import SPECS
from textual.keys import _character_to_key

from tests.tui.conftest import send, wait_for

pytestmark = pytest.mark.timeout(120)

CODE_ANSWER = "Two ways:\n\n```python\nprint(1)\n```\n\n```sh\necho 1\n```\n"


async def type_text(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*[_character_to_key(c) for c in text])


async def command(pilot, line: str) -> CommandNote:  # type: ignore[no-untyped-def]
    """Type a command as a user does, press Enter, and return the note it leaves in the chat."""
    chat = pilot.app.chat_screen()
    before = set(chat.query(CommandNote))
    await type_text(pilot, line)
    await pilot.press("enter")
    await wait_for(pilot, lambda: set(chat.query(CommandNote)) - before)
    return (set(chat.query(CommandNote)) - before).pop()


def nothing_sent(app) -> bool:  # type: ignore[no-untyped-def]
    chat = app.chat_screen()
    return app.session.turns == [] and chat.views() == [] and not chat.answering and \
        app.history.conversations() == []


async def test_a_bad_parameter_value_names_the_type_and_nothing_is_sent(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        note = await command(pilot, "/set parameter temperature hot")
        assert note.has_class("-error")
        assert "temperature expects a number" in note.output
        assert app.session.overrides["temperature"] == 0.0
        assert nothing_sent(app)


async def test_an_unknown_command_or_a_typo_is_answered_with_help_never_sent(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        note = await command(pilot, "/bogus")
        assert "Unknown command '/bogus'" in note.output and "/?" in note.output
        note = await command(pilot, "/sav mine/x")
        assert 'did you mean "/save"' in note.output
        note = await command(pilot, "/?")
        assert "/set parameter NAME VALUE" in note.output and not note.has_class("-error")
        assert nothing_sent(app)


async def test_load_of_a_missing_model_suggests_pull_and_a_real_one_moves_the_status_line(make_app, backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        note = await command(pilot, "/load nosuch")
        assert 'ember pull nosuch' in note.output and note.has_class("-error")
        assert app.session.model == "smollm2:135m"
        await backend.copy("smollm2:135m", "mine/other")
        try:
            note = await command(pilot, "/load mine/other")
            assert "Loading model 'mine/other'" in note.output
            assert app.session.model == "mine/other"
            status = app.chat_screen().query_one(StatusLine)
            assert status.status.model == "mine/other" and "mine/other" in str(status.render())
        finally:
            await backend.delete("mine/other")
        assert nothing_sent(app)


async def test_set_system_then_save_makes_a_model_with_the_system_prompt_and_the_turns(make_app, backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        note = await command(pilot, "/set system You are terse.")
        assert note.output == "Set system message."
        assert app.session.request().messages[0].content == "You are terse."
        await send(pilot, "Say hi.")
        answer = app.session.turns[-1].content
        note = await command(pilot, "/save mine/terse-chat")
        await wait_for(pilot, lambda: "Created new model" in note.output)
    try:
        info = await backend.show("mine/terse-chat")
        assert info.system == "You are terse."
        assert [(m.role, m.content) for m in info.messages] == [("user", "Say hi."), ("assistant", answer)]
        assert info.parameters["num_predict"] == 8
    finally:
        await backend.delete("mine/terse-chat")


async def test_retry_streams_a_new_answer_in_place_of_the_last(make_app, history):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Name a colour.")
        app.session.overrides["num_predict"] = 4
        chat = app.chat_screen()
        first = app.session.turns[-1]
        await type_text(pilot, "/retry")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.session.turns[-1] is not first and app.session.turns[-1].role == "assistant"
                       and not chat.answering)
        assert [t.role for t in app.session.turns] == ["user", "assistant"]
        assert [v.role for v in chat.views()] == ["user", "assistant"]
        assert chat.views()[-1].markdown.source == app.session.turns[-1].content
        stored = history.messages(app.session.conversation_id)
        assert [(m.role, m.content) for m in stored] == [(t.role, t.content) for t in app.session.turns]


async def test_persona_copy_clear_and_bye(make_app, history):
    conversation = history.new_conversation(model="smollm2:135m")
    history.add_message(conversation.id, "user", "code please")
    history.add_message(conversation.id, "assistant", CODE_ANSWER)
    app = make_app()
    architect = next(p for p in app.personas if p.slug == "architect")
    async with app.run_test(size=(80, 24)) as pilot:
        await app.open_conversation(conversation.id)
        note = await command(pilot, "/persona architect")
        assert app.session.persona.slug == "architect" and "Architect" in note.output
        assert architect.title in str(app.chat_screen().query_one(StatusLine).render())
        assert app.session.request().options == architect.parameters  # like Alt+1: the persona's take over
        note = await command(pilot, "/copy 1")
        assert app.clipboard == "print(1)\n" and "Copied code block 1 (python" in note.output
        await command(pilot, "/clear")
        assert app.session.turns == [] and app.chat_screen().views() == []
        assert len(history.messages(conversation.id)) == 2  # clearing the chat keeps the stored one
        await type_text(pilot, "/bye")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.is_running, timeout=10)


async def test_tab_completes_commands_parameters_models_and_personas(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        prompt = chat.prompt
        await wait_for(pilot, lambda: "smollm2:135m" in chat.model_names)  # fetched in a worker
        hint = chat.query_one("#hint")

        await type_text(pilot, "/se")
        await pilot.press("tab")
        assert prompt.text == "/se" and prompt.has_focus  # /search or /set …: the choices are shown
        assert "/search" in str(hint.render()) and "/set parameter" in str(hint.render())
        await type_text(pilot, "t")
        await pilot.press("tab")
        assert prompt.text == "/set "
        assert "parameter" in str(hint.render()) and "nohistory" in str(hint.render())
        await type_text(pilot, "par")
        await pilot.press("tab")
        assert prompt.text == "/set parameter "
        await type_text(pilot, "tem")
        await pilot.press("tab")
        assert prompt.text == "/set parameter temperature "

        prompt.text = "/load smo"
        await pilot.press("tab")
        assert prompt.text == "/load smollm2:135m"
        prompt.text = "/persona arc"
        await pilot.press("tab")
        assert prompt.text == "/persona architect"
        prompt.text = "/sh"
        await pilot.press("tab")
        assert prompt.text == "/show "

        prompt.text = "Hello"  # not a command: Tab moves the focus, as everywhere else
        await pilot.press("tab")
        assert not prompt.has_focus
        assert nothing_sent(app)


async def test_the_hint_line_shows_the_syntax_of_the_command_being_typed(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        hint = chat.query_one("#hint")
        assert not hint.display
        await type_text(pilot, "/set par")
        await pilot.pause()
        assert hint.display and "/set parameter NAME VALUE" in str(hint.render())
        chat.prompt.text = "/set parameter top_k 5"
        await pilot.pause()
        assert "top_k: " in str(hint.render())  # and what the parameter does
        chat.prompt.text = "/load"
        await pilot.pause()
        assert str(hint.render()) == "/load MODEL"
        chat.prompt.text = "/nonsense"
        await pilot.pause()
        assert "Unknown command" in str(hint.render())
        chat.prompt.text = "Just a message"
        await pilot.pause()
        assert not hint.display


async def test_multi_line_messages_with_triple_quotes_and_ctrl_j(make_app, history):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        await type_text(pilot, '"""')
        await pilot.press("enter")
        await type_text(pilot, "first line")
        await pilot.press("enter")
        assert not app.session.turns and chat.prompt.text == '"""\nfirst line\n'  # Enter adds a line
        await type_text(pilot, 'second line"""')
        await pilot.press("enter")
        await wait_for(pilot, lambda: chat.answering or len(app.session.turns) > 1)
        await wait_for(pilot, lambda: not chat.answering)
        assert app.session.turns[0].content == "first line\nsecond line"
        assert chat.prompt.text == ""

        await type_text(pilot, "one")
        await pilot.press("ctrl+j")
        await type_text(pilot, "two")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.session.turns) == 4 and not chat.answering)
        assert app.session.turns[2].content == "one\ntwo"
        stored = history.messages(app.session.conversation_id)
        assert [m.content for m in stored if m.role == "user"] == ["first line\nsecond line", "one\ntwo"]


async def test_every_command_is_in_the_command_palette(make_app):
    from ember.tui.app.palette import ChatCommandsProvider

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        provider = ChatCommandsProvider(chat)
        commands = {label: run for label, _help, run in provider._commands()}
        assert set(commands) == {spec.syntax for spec in SPECS}
        commands["/load MODEL"]()  # needs a name: it starts in the prompt
        assert chat.prompt.text == "/load " and chat.prompt.has_focus
        chat.prompt.text = ""
        commands["/show info"]()  # needs nothing more: it runs
        await wait_for(pilot, lambda: bool(chat.query(CommandNote)))
        assert re.search(r"architecture +llama", list(chat.query(CommandNote))[-1].output)


async def test_a_conversation_continues_after_a_restart(make_app, history):
    first = make_app()
    async with first.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Remember the word lighthouse.")
        conversation_id = first.session.conversation_id
    second = make_app()
    async with second.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+f", "enter")
        assert second.session.conversation_id == conversation_id
        assert second.session.turns[0].content == "Remember the word lighthouse."
        await send(pilot, "What was the word?")
        stored = history.messages(conversation_id)
        assert [m.role for m in stored] == ["user", "assistant", "user", "assistant"]
        assert len(history.conversations()) == 1
