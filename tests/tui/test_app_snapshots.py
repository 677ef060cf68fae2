"""Snapshots of the main screens at 80x24 (pytest-textual-snapshot). After an intended change of the
look, review and update them with: pytest tests/tui/test_app_snapshots.py --snapshot-update"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)

ANSWER = ("A cache keeps **recent** results close.\n\n```python\nfrom functools import lru_cache\n\n"
          "@lru_cache(maxsize=128)\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n```\n")


@pytest.fixture
def stored_chat(history):
    conversation = history.new_conversation(model="smollm2:135m")
    history.add_message(conversation.id, "user", "What is a cache? Show me one in Python.")
    history.add_message(conversation.id, "assistant", ANSWER)
    return conversation.id


def quiet(app):  # type: ignore[no-untyped-def]
    app.notify = lambda *args, **kwargs: None  # toasts would make the picture depend on timing
    return app


def test_chat_screen(snap_compare, make_app, stored_chat):
    app = quiet(make_app())

    async def open_it(pilot):  # type: ignore[no-untyped-def]
        app.chat_screen().prompt.cursor_blink = False  # a blinking cursor is on or off by the clock
        await app.open_conversation(stored_chat)
        await app.workers.wait_for_complete()  # e.g. the model names fetched for Tab completion
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=open_it)


def test_parameters_screen_with_a_persona(snap_compare, make_app):
    app = quiet(make_app())
    app.session.overrides = {"temperature": 0.3}
    assert snap_compare(app, terminal_size=(80, 24), press=["alt+1", "ctrl+o"])


def test_persona_picker(snap_compare, make_app):
    app = quiet(make_app())
    assert snap_compare(app, terminal_size=(80, 24), press=["alt+p"])
