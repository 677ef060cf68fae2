"""A thinking model in the app: its thinking streams folded and dimmed above the answer, Ctrl+T opens and
folds it, /set think, /set nothink and the palette switch it, and the history keeps it (Pilot, real model)."""

from __future__ import annotations

import pytest

from tests.tui.conftest import screen_text, wait_for

pytestmark = pytest.mark.timeout(300)
PATIENCE = 150  # seconds an answer may take on a loaded two-core machine

THINKER = "app/thinks"
MODELFILE = '''FROM smollm2:135m
TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ if .Think }}<think>
{{ end }}"""
PARAMETER temperature 0
'''


@pytest.fixture(scope="module")
async def thinker(backend):  # type: ignore[no-untyped-def]
    async for _ in backend.create(THINKER, MODELFILE):
        pass
    yield THINKER
    await backend.delete(THINKER)


async def send(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    chat = pilot.app.chat_screen()
    chat.prompt.text = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: chat.answering or chat.ember.session.turns[-1].role == "assistant", PATIENCE)
    await wait_for(pilot, lambda: not chat.answering, PATIENCE)


def thinking_views(chat):  # type: ignore[no-untyped-def]
    from ember.tui.app.widgets.thinking_view import ThinkingView

    return [w for view in chat.views() for w in view.query(ThinkingView)]


def summary(widget) -> str:  # type: ignore[no-untyped-def]
    return str(widget.query_one(".summary").render())


def visible_words(text: str) -> str:
    """A few words of the thinking as the screen would show them (its first line, shortened)."""
    line = next(line for line in text.splitlines() if line.strip()).strip()
    return " ".join(line.split()[:3])[:30]


async def test_thinking_streams_folded_above_the_answer_and_ctrl_t_opens_and_folds_it(make_app, thinker):
    app = make_app()
    app.session.model = thinker
    app.session.overrides["num_predict"] = 24
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        chat.prompt.text = "Why is the sky blue?"
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(thinking_views(chat)), PATIENCE)
        [streaming] = thinking_views(chat)
        if streaming.streaming:  # a short thinking can end between two frames: then it is drawn finished
            assert summary(streaming).startswith("▸ Thinking…") and "Ctrl+T opens it" in summary(streaming)
            assert chat.query_one("StatusLine").status.state in ("thinking", "answering")
        await wait_for(pilot, lambda: not chat.answering, PATIENCE)
        await pilot.pause()

        thought = app.session.turns[-1].thinking
        assert thought.strip() and "<think>" not in app.session.turns[-1].content
        [widget] = thinking_views(chat)
        view = chat.views()[-1]
        assert widget.text == thought
        assert view.children.index(widget) < view.children.index(view.markdown)  # above the answer
        assert summary(widget).startswith("▸ Thought for ") and " s · Ctrl+T opens it" in summary(widget)
        words = visible_words(thought)
        assert words not in screen_text(app)  # folded: one summary line

        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: summary(widget).startswith("▾ Thought for ") and words in screen_text(app),
                       PATIENCE)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: summary(widget).startswith("▸") and words not in screen_text(app), PATIENCE)


async def test_set_nothink_and_think_and_the_palette_switch_it(make_app, thinker):
    from ember.tui.app.palette import AppCommandsProvider

    from tests.tui.test_app_commands import command

    app = make_app()
    app.session.model = thinker
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        note = await command(pilot, "/set nothink")
        assert "Set 'nothink' mode." in note.output
        await send(pilot, "Why is the sky blue?")
        assert app.session.turns[-1].thinking == "" and app.session.turns[-1].content
        assert not thinking_views(chat)

        commands = AppCommandsProvider(chat)._think_commands()
        [(label, _help, switch)] = commands
        assert label == "Thinking: on"
        switch()
        assert app.session.state.think is True
        await send(pilot, "And why is grass green?")
        assert app.session.turns[-1].thinking and len(thinking_views(chat)) == 1
        [(label, _help, switch)] = AppCommandsProvider(chat)._think_commands()
        assert label == "Thinking: off"
        switch()
        assert app.session.request().think is False
        await command(pilot, "/set think")
        assert app.session.request().think is True


async def test_a_reopened_conversation_shows_its_thinking_folded(make_app, thinker, history):
    app = make_app()
    app.session.model = thinker
    async with app.run_test(size=(80, 24)) as pilot:
        chat = app.chat_screen()
        await send(pilot, "Why is the sky blue?")
        thought = app.session.turns[-1].thinking
        conversation = app.session.conversation_id
        assert thought and history.messages(conversation)[-1].thinking == thought
        await chat.action_new_chat()
        assert not thinking_views(chat)
        await app.open_conversation(conversation)
        await pilot.pause()
        [widget] = thinking_views(chat)
        assert widget.text == thought and summary(widget).startswith("▸ Thought (")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert visible_words(thought) in screen_text(app)


async def test_hidden_thinking_is_kept_but_not_shown_and_the_key_says_when_there_is_none(make_app, thinker):
    app = make_app()
    app.session.model = thinker
    app.session.state.hide_thinking = True
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        chat = app.chat_screen()
        await send(pilot, "Why is the sky blue?")
        assert app.session.turns[-1].thinking and not thinking_views(chat)
        await pilot.press("ctrl+t")
        assert any(n.message.startswith("No thinking to show yet") for n in app._notifications)


async def test_f1_and_the_readme_list_the_thinking_key(make_app):
    from pathlib import Path

    from ember.tui.app.screens.keys import KeysScreen

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, KeysScreen)
        assert "| Ctrl+T | open or fold the thinking" in app.screen.document()
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert "| Ctrl+T | open or fold the thinking" in readme


async def test_the_thinking_is_written_to_the_history_as_it_streams(backend, thinker, history, monkeypatch):
    from ember.tui.chat import session as session_module
    from ember.tui.chat.session import ChatSession, ChatState

    monkeypatch.setattr(session_module, "PARTIAL_SAVE_INTERVAL", 0.0)
    session = ChatSession(backend, ChatState(model=thinker, options={"num_predict": 12, "temperature": 0}), history)
    session.add_user("Why is the sky blue?")
    saved_while_streaming = []
    async for chunk in session.answer():
        stored = history.messages(session.conversation_id)
        if not chunk.done and len(stored) == 2:
            saved_while_streaming.append(stored[-1].thinking)
    thought = session.turns[-1].thinking
    assert thought and any(saved and thought.startswith(saved) for saved in saved_while_streaming)
