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


async def stream_answer(chunks: AsyncIterator[Chunk]) -> Timings | None:
    """Print each piece as it arrives and end on a newline; returns the answer's timings."""
    timings = None
    ended_with_newline = True
    async for chunk in chunks:
        if chunk.text:
            write(chunk.text)
            ended_with_newline = chunk.text.endswith("\n")
        if chunk.done:
            timings = chunk.timings
    if not ended_with_newline:
        write("\n")
    return timings
