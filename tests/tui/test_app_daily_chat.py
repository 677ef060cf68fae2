"""The chat screen as a daily driver at 80×24: messages, answers and their figures, scrolling, the prompt (Pilot)."""

from __future__ import annotations

import pytest

from tests.tui.conftest import screen_text, send, wait_for

pytestmark = pytest.mark.timeout(120)


async def test_a_message_keeps_its_own_line_breaks_on_screen(make_app):
    from ember.tui.app.widgets.message_view import MessageView

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        chat.prompt.text = '"""\nTranslate to French:\ngood morning\n"""'
        await pilot.press("enter")
        await wait_for(pilot, lambda: not chat.answering and len(app.session.turns) == 2)
        assert app.session.turns[0].content == "Translate to French:\ngood morning"
        await pilot.pause()
        lines = [line.strip(" ▌") for line in screen_text(app).splitlines()]
        assert "Translate to French:" in lines and "good morning" in lines
        assert isinstance(chat.views()[0], MessageView)



async def test_continuing_a_conversation_keeps_each_answers_model_and_persona(make_app, history):
    app = make_app()
    persona = app.personas[0]
    conversation = history.new_conversation(model="smollm2:135m", persona=persona.slug)
    history.add_message(conversation.id, "user", "ls?", persona=persona.slug)
    history.add_message(conversation.id, "assistant", "ls lists files.", model="smollm2:135m", persona=persona.slug)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("alt+2")
        app.session.model = "pirate:latest"
        await app.open_conversation(conversation.id)
        await pilot.pause()
        chat = app.chat_screen()
        assert [v.who for v in chat.views()] == ["You", f"smollm2:135m · {persona.title}"]



async def test_the_ctx_gauge_follows_the_conversation(make_app, history):
    from ember.tui.app.widgets.status_line import StatusLine

    other = history.new_conversation(model="smollm2:135m")
    history.add_message(other.id, "user", "Tell me about the sea. " * 40)
    history.add_message(other.id, "assistant", "The sea is wide and deep. " * 40)
    app = make_app()
    # long enough to span several frames: the status line shows "answering" from the first frame on
    app.session.overrides["num_predict"] = 200
    app.session.overrides["temperature"] = 0
    app.session.overrides["repeat_penalty"] = 1.0
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        status = chat.query_one(StatusLine).status
        chat.prompt.text = "Write a long story about the sea."
        await pilot.press("enter")
        await wait_for(pilot, lambda: status.state == "answering", explain=lambda: (
            f"state {status.state!r}, answering {chat.answering}, model {app.session.model}, "
            f"turns {[(t.role, t.content[:60]) for t in app.session.turns]}, "
            f"notes {[n.message for n in app._notifications]}"))
        assert status.context_used > 0 and status.context_estimated  # the first answer shows it growing
        await wait_for(pilot, lambda: not chat.answering)
        counted = status.context_used
        assert counted > 0 and not status.context_estimated
        await send_command(pilot, "/clear")
        assert status.context_used == 0
        await app.open_conversation(other.id)
        assert status.context_used > 200 and status.context_estimated and "ctx ~" in status.render()



async def send_command(pilot, line: str) -> None:  # type: ignore[no-untyped-def]
    from tests.tui.test_app_commands import command

    await command(pilot, line)



async def test_each_answer_has_its_figures_and_set_verbose_adds_the_timings(make_app):
    from textual.widgets import Static

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        await send(pilot, "Hi.")
        figures = chat.views()[-1].query(".figures")
        timings = app.session.last_timings
        assert len(figures) == 1 and not chat.views()[-1].query(".timings")
        text = str(figures.first(Static).render())
        assert f"{timings.prompt_eval_count} tokens in" in text and f"{timings.eval_count} out" in text
        assert "tok/s" in text
        await send_command(pilot, "/set verbose")
        await send(pilot, "Bye.")
        await wait_for(pilot, lambda: bool(chat.views()[-1].query(".timings")), timeout=10)  # mounted once it ends
        block = str(chat.views()[-1].query_one(".timings", Static).render())
        assert "prompt eval count:" in block and "eval rate:" in block



async def test_page_keys_scroll_the_conversation_from_the_prompt_and_typing_returns_to_it(make_app, history):
    conversation = history.new_conversation(model="smollm2:135m")
    for n in range(15):
        history.add_message(conversation.id, "user", f"question {n}")
        history.add_message(conversation.id, "assistant", f"answer {n}\n\nwith a second paragraph")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.open_conversation(conversation.id)
        await pilot.pause()
        chat = app.chat_screen()
        bottom = chat.conversation.scroll_y
        assert bottom > 0 and chat.focused is chat.prompt
        await pilot.press("pageup")
        await pilot.pause()
        assert chat.conversation.scroll_y < bottom
        await pilot.press("pagedown", "pagedown", "pagedown")
        await pilot.pause()
        assert chat.conversation.scroll_y == chat.conversation.max_scroll_y
        chat.conversation.focus()
        await pilot.press("h", "i")
        assert chat.focused is chat.prompt and chat.prompt.text == "hi"



async def test_up_and_down_in_an_empty_prompt_recall_earlier_messages(make_app, history):
    conversation = history.new_conversation(model="smollm2:135m")
    for text in ("first question", "second question"):
        history.add_message(conversation.id, "user", text)
        history.add_message(conversation.id, "assistant", "an answer")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.open_conversation(conversation.id)
        chat = app.chat_screen()
        await pilot.press("up")
        assert chat.prompt.text == "second question"
        await pilot.press("up")
        assert chat.prompt.text == "first question"
        await pilot.press("up")
        assert chat.prompt.text == "first question"
        await pilot.press("down")
        assert chat.prompt.text == "second question"
        await pilot.press("down")
        assert chat.prompt.text == ""
        chat.prompt.text = "typed"
        await pilot.press("up")
        assert chat.prompt.text == "typed"  # a prompt with text of its own keeps it



async def test_a_long_code_line_wraps_instead_of_being_cut(make_app, history):
    tail = "END_OF_THE_LONG_LINE"
    long_line = "print(" + " + ".join(f"value_{n}" for n in range(14)) + f")  # {tail}"
    conversation = history.new_conversation(model="smollm2:135m")
    history.add_message(conversation.id, "user", "code")
    history.add_message(conversation.id, "assistant", f"```python\n{long_line}\n```\n")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.open_conversation(conversation.id)
        await pilot.pause(0.3)
        shown = screen_text(app)
        assert len(long_line) > 80 and tail in shown and "print(value_0" in shown
        await pilot.press("ctrl+y")
        assert app.clipboard == long_line + "\n"



async def test_an_empty_chat_says_how_to_begin_and_offers_the_last_conversation(make_app, history):
    from ember.tui.app.screens.chat.welcome import Welcome

    conversation = history.new_conversation(model="smollm2:135m")
    history.add_message(conversation.id, "user", "How do tides work?")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        text = str(chat.query_one(Welcome).render())
        for words in ("press Enter", "F1 keys", "Ctrl+L models", "Alt+1…", "Ctrl+Q quit",
                      'Continue your last conversation, "How do tides work?": Ctrl+F, Enter'):
            assert words in text
        await pilot.press("ctrl+f")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "chat" and len(app.session.turns) == 1)
        assert not chat.query(Welcome)



async def test_load_tab_offers_a_model_saved_in_this_session(make_app, backend):
    from tests.tui.test_app_commands import command, type_text

    app = make_app()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            chat = app.chat_screen()
            note = await command(pilot, "/save mytest")
            await wait_for(pilot, lambda: "Created new model" in note.output)
            await wait_for(pilot, lambda: "mytest:latest" in chat.model_names)
            await type_text(pilot, "/load my")
            await pilot.press("tab")
            assert chat.prompt.text == "/load mytest:latest"
    finally:
        await backend.delete("mytest")


async def test_pasted_code_keeps_its_indentation_on_screen(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await send(pilot, "Explain this code:\ndef add(a, b):\n    return a + b\n- a list\n  - stays a list")
        assert app.session.turns[0].content == "Explain this code:\ndef add(a, b):\n    return a + b\n- a list\n" \
                                               "  - stays a list"  # what is sent and kept is what was typed
        await pilot.pause()
        lines = screen_text(app).splitlines()
        (code,) = [line for line in lines if "def add(a, b):" in line]
        (body,) = [line for line in lines if "return a + b" in line]
        assert body.index("return") == code.index("def") + 4
        assert not any("- a list" in line for line in lines)  # Markdown's list, drawn with bullets
