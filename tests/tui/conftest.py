"""The real app on the real backend (the session's loaded model), with a private history and config."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from ember.backend.history import History

MODEL = "smollm2:135m"


@pytest.fixture
def history(tmp_path: Path):
    db = History(tmp_path / "history.db")
    yield db
    db.close()


@pytest.fixture
def make_app(backend, config, history, tmp_path):
    """An EmberApp factory: short greedy answers so each test stays quick on two cores."""
    from ember.backend.models.personas import load_personas
    from ember.tui.app.app import EmberApp
    from ember.tui.app.themes import SHIPPED_DIR

    def make(**kwargs):  # type: ignore[no-untyped-def]
        options = dict(history=history, personas=load_personas(tmp_path / "no-user-personas"),
                       theme_dirs=(SHIPPED_DIR, tmp_path / "user-themes"), keymap={}, config=config,
                       load_model=False)
        options.update(kwargs)
        app = EmberApp(options.pop("backend", backend), MODEL, **options)
        app.session.overrides.update({"num_predict": 8, "temperature": 0.0, "seed": 1})
        return app

    return make


async def wait_for(pilot, condition, timeout: float = 60.0, explain=None) -> None:  # type: ignore[no-untyped-def]
    """Pause until `condition()` holds; past `timeout`, fail with what `explain()` says of the app then."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time" + (f": {explain()}" if explain else ""))
        await pilot.pause(0.05)
    await asyncio.sleep(0)


async def send(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    """Type a prompt (set at once: typing each key is the e2e test's job) and press Enter."""
    chat = pilot.app.chat_screen()
    chat.prompt.text = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: chat.answering or chat.ember.session.turns[-1].role == "assistant")
    await wait_for(pilot, lambda: not chat.answering)


def screen_text(app) -> str:  # type: ignore[no-untyped-def]
    """What the terminal shows now, as plain text lines."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
