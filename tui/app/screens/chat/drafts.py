"""The unsent text in the prompt, written to the history shortly after each change, so a dead terminal
loses none of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.timer import Timer

if TYPE_CHECKING:
    from ember.backend.history import History

DRAFT_SAVE_DELAY = 0.4


class DraftKeeper:
    """Saves the prompt's text DRAFT_SAVE_DELAY seconds after the last change (or at once, on request)."""

    def __init__(self, history: History, set_timer: Callable[..., Timer]) -> None:
        self.history = history
        self._set_timer = set_timer
        self._timer: Timer | None = None

    def saved(self) -> str:
        return self.history.draft()

    def changed(self, read: Callable[[], str]) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self._set_timer(DRAFT_SAVE_DELAY, lambda: self.save_now(read()))

    def save_now(self, text: str) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.history.save_draft(text)
