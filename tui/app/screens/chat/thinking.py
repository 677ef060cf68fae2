"""The thinking of an answer as it streams, and of answers reopened from the history: a ThinkingView
above the answer's text, fed once a frame by the answer's own frame pacer, folded unless opened."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ember.tui.app.widgets.message_view import MessageView
from ember.tui.app.widgets.thinking_view import ThinkingView


@dataclass
class ThinkingFeed:
    """The thinking of one streaming answer: gathered per piece, drawn when the answer's frame is."""

    view: MessageView
    key: str  # the key that opens it, as the summary line names it
    is_open: bool = False
    hidden: bool = False  # --hidethinking: kept in the history, never shown
    pending: list[str] = field(default_factory=list)
    started: float = 0.0  # perf_counter of the first thinking
    ended: float = 0.0  # of the first answer text after it
    widget: ThinkingView | None = None

    @property
    def streaming(self) -> bool:
        return bool(self.started) and not self.ended

    def add(self, text: str) -> None:
        """One piece of thinking (on the per-token path: an append and, once, a clock read)."""
        if not self.started:
            self.started = time.perf_counter()
        self.pending.append(text)

    def answer_began(self) -> None:
        if self.started and not self.ended:
            self.ended = time.perf_counter()

    async def flush(self) -> None:
        """Draw what came since the last frame (called by the answer's frame)."""
        if self.hidden:
            self.pending.clear()
            return
        if (not self.pending and (self.widget is None or self.widget.streaming == self.streaming)):
            return
        text = "".join(self.pending)
        self.pending.clear()
        if self.widget is None:
            self.widget = ThinkingView(key=self.key, is_open=self.is_open, streaming=True)
            await self.view.mount(self.widget, before=self.view.markdown)
        self.widget.append(text)
        if not self.streaming:
            self.widget.finish(self.seconds())

    async def settle(self) -> None:
        """The answer ended (or stopped): the last thinking drawn, and how long it took."""
        if not self.started:
            return
        self.answer_began()
        await self.flush()
        if self.widget is not None and self.widget.streaming:
            self.widget.finish(self.seconds())

    def seconds(self) -> float | None:
        return self.ended - self.started if self.started and self.ended else None


async def show_stored_thinking(view: MessageView, text: str, key: str, is_open: bool) -> None:
    """The thinking of an answer reopened from the history, above its text (folded unless opened)."""
    await view.mount(ThinkingView(text, key=key, is_open=is_open), before=view.markdown)


def set_thinking_open(views: list[MessageView], is_open: bool) -> int:
    """Open or fold the thinking of every answer shown; how many have some."""
    shown = [w for view in views for w in view.query(ThinkingView)]
    for widget in shown:
        widget.set_open(is_open)
    return len(shown)
