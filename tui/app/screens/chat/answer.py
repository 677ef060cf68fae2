"""An answer streamed into its message view: text gathered between frames (paced by FramePacer) and
appended to the message's Markdown, the speed shown as it goes, one full render at the end. Each frame's
changes (the status line, the thinking, the text) are drawn as one screen update.

The per-token path is only list appends and a clock read; drawing happens once a frame."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ember.backend.asyncbridge import closing
from ember.backend.errors import EmberError
from ember.backend.types import Chunk
from ember.tui.app.framepacer import FramePacer
from ember.tui.app.screens.chat.thinking import ThinkingFeed
from ember.tui.app.widgets.message_view import MessageView
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget

if TYPE_CHECKING:
    from ember.tui.app.widgets.chat_markdown import ChatMarkdown

GATHER_EARLY = 0.01  # read the gathered answer this long before the frame that draws it
ROOM_FEWEST = 4  # the blank lines at least that the growing block keeps below it (widgets/growing.py)


@dataclass
class AnsweredText:
    """What one answer produced, for the status line and the figures under it."""

    text: str = ""
    final: Chunk | None = None  # the last chunk, with the timings
    outcome: str = ""  # "", "stopped" or "error"
    pieces: int = 0
    started: float = 0.0  # perf_counter of the first text
    ended: float = 0.0

    @property
    def rate(self) -> float:
        """Pieces per second after the first, while it streams."""
        elapsed = time.perf_counter() - self.started
        return (self.pieces - 1) / elapsed if self.started and self.pieces > 1 and elapsed > 0 else 0.0


@dataclass
class AnswerStream:
    screen: Screen
    view: MessageView
    show_status: Callable[..., None]  # the screen's refresh_status
    context_before: int = 0  # the context the request fills (an estimate), for the gauge as it grows
    thinking: ThinkingFeed | None = None  # where a thinking model's thinking goes, on the same frames
    result: AnsweredText = field(default_factory=AnsweredText)

    async def run(self, source: AsyncIterator[Chunk]) -> AnsweredText:
        """Stream `source` into the view; stopped (cancelled) or failed, what was said is kept."""
        result = self.result
        markdown = self.view.markdown
        conversation = self.view.parent
        markdown.room = max(ROOM_FEWEST, conversation.size.height // 2 if isinstance(conversation, Widget) else 0)
        app = self.screen.app
        parts: list[str] = []
        pending: list[str] = []
        pacer = FramePacer()
        finished = False
        timer: Timer | None = None
        thinking = self.thinking or ThinkingFeed(self.view, "", hidden=True)

        async def flush() -> None:
            nonlocal timer
            if finished:
                return
            with app.batch_update():
                if result.pieces > 1:
                    self.show_status(state="thinking" if thinking.streaming else "answering",
                                     tokens_per_second=result.rate,
                                     context_used=self.context_before + result.pieces, context_estimated=True)
                await thinking.flush()
                if pending:
                    text = "".join(pending)
                    pending.clear()
                    await asyncio.shield(markdown.append(text))  # a stop mid-frame leaves the blocks whole
            if not finished:
                timer = self.screen.set_timer(pacer.next_interval(), flush)

        timer = self.screen.set_timer(pacer.interval, flush)
        # Python's full collections walk every object the app holds (a long conversation's widgets): while
        # the answer streams only what it makes is collected, and the rest is collectable again after it
        gc.freeze()
        try:
            async with closing(source) as chunks:
                async for chunk in chunks:
                    if chunk.text or chunk.thinking:
                        if not result.started:
                            result.started = time.perf_counter()
                        result.pieces += chunk.pieces
                        if chunk.thinking:  # it comes first, even within one chunk
                            thinking.add(chunk.thinking)
                        if chunk.text:
                            thinking.answer_began()
                            parts.append(chunk.text)
                            pending.append(chunk.text)
                    if chunk.done:
                        result.final = chunk
                    elif (wait := pacer.due - time.perf_counter() - GATHER_EARLY) > 0:
                        await asyncio.sleep(wait)  # what comes meanwhile arrives as one piece, without a wake-up each
        except asyncio.CancelledError:
            result.outcome = "stopped"
            raise
        except EmberError as exc:
            result.outcome = "error"
            self.screen.notify(str(exc), title="The model could not answer", severity="error", timeout=8)
        except Exception as exc:  # a failed worker must show itself, never leave a dead screen
            result.outcome = "error"
            self.screen.notify(f"{type(exc).__name__}: {exc}", title="Unexpected error", severity="error", timeout=8)
        finally:
            gc.unfreeze()
            finished = True
            timer.stop()
            result.ended = time.perf_counter()
            result.text = "".join(parts)
            await self._settle(markdown, thinking)
        return result

    async def _settle(self, markdown: ChatMarkdown, thinking: ThinkingFeed) -> None:
        try:
            markdown.room = 0
            await thinking.settle()
            if self.result.text:
                await self.view.set_text(self.result.text)  # one full parse: the stream may have left the tail unrendered
            elif thinking.widget is None:
                await self.view.remove()
        except Exception:  # the app is closing: the session has already kept the answer
            pass

    def status_changes(self) -> dict[str, str | float | bool]:
        """What the status line shows once the answer has ended."""
        final = self.result.final
        changes: dict[str, str | float | bool] = {"state": self.result.outcome}
        if final is not None and final.timings is not None:
            changes["tokens_per_second"] = final.timings.eval_rate
            changes["first_token_ms"] = getattr(final.timings, "time_to_first_token", 0) / 1e6  # RemoteTimings
            changes["context_used"] = (len(final.context) if final.context
                                       else final.timings.prompt_eval_count + final.timings.eval_count)
            changes["context_estimated"] = False
        return changes
