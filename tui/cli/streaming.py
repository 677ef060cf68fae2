"""Print an answer to the terminal as it streams."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

from ember.backend.types import Chunk, Timings
from ember.tui.safetext import printable


def write(text: str) -> None:
    """Print text that came from a model or a server, its control characters neutralised."""
    sys.stdout.write(printable(text))
    sys.stdout.flush()


DIM, RESET = "\x1b[2m", "\x1b[0m"


class _Thinking:
    """Thinking printed as Ollama's CLI prints it: "Thinking...", the text (dimmed on a terminal), "...done thinking."."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.open = False
        self.dim = sys.stdout.isatty()

    def add(self, text: str) -> None:
        if not self.show:
            return
        if not self.open:
            self.open = True
            write((DIM if self.dim else "") + "Thinking...\n")
        write(text)

    def close(self) -> None:
        if self.open:
            self.open = False
            write("\n...done thinking.\n\n" + (RESET if self.dim else ""))


async def stream_answer(chunks: AsyncIterator[Chunk], *, show_thinking: bool = True) -> Timings | None:
    """Print each piece as it arrives and end on a newline; returns the answer's timings.

    A thinking model's thinking comes first, set apart (unless `show_thinking` is off), then the answer.
    """
    timings = None
    ended_with_newline = True
    thinking = _Thinking(show_thinking)
    try:
        async for chunk in chunks:
            if chunk.thinking:
                thinking.add(chunk.thinking)
            if chunk.text:
                thinking.close()
                write(chunk.text)
                ended_with_newline = chunk.text.endswith("\n")
            if chunk.done:
                timings = chunk.timings
    finally:
        thinking.close()
    if not ended_with_newline:
        write("\n")
    return timings
