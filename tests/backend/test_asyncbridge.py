"""Work in a thread streamed to asyncio: every item arrives in order, a busy consumer gets what piled up
in fewer pieces, errors reach the consumer, and leaving early stops the work."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import aclosing

import pytest
from ember.backend.asyncbridge import stream_from_thread
from ember.backend.types import Chunk, merge_text_chunks

pytestmark = pytest.mark.timeout(20)


def pieces(count: int, pause: float = 0.0) -> Iterator[Chunk]:
    for number in range(count):
        if pause:
            time.sleep(pause)
        yield Chunk(f"{number} ")
    yield Chunk("", done=True, done_reason="stop")


async def test_a_prompt_consumer_gets_every_piece_as_it_comes():
    received = [c async for c in stream_from_thread(lambda cancel: pieces(20, pause=0.002), merge_text_chunks)]
    assert "".join(c.text for c in received) == "".join(f"{n} " for n in range(20))
    assert received[-1].done and received[-1].done_reason == "stop"
    assert not any(c.done for c in received[:-1])


async def test_a_busy_consumer_gets_what_piled_up_in_one_piece():
    received: list[Chunk] = []
    async for chunk in stream_from_thread(lambda cancel: pieces(200, pause=0.0005), merge_text_chunks):
        received.append(chunk)
        await asyncio.sleep(0.03)  # a screen drawing now and then
    assert "".join(c.text for c in received) == "".join(f"{n} " for n in range(200))
    assert len(received) < 100
    assert sum(c.pieces for c in received[:-1]) == 200  # each piece is still counted
    assert received[-1].done and not any(c.done for c in received[:-1])


def test_merging_keeps_the_last_chunk_and_tool_calls_apart():
    call = {"function": {"name": "f", "arguments": {}}}
    chunks = [Chunk("a"), Chunk("b"), Chunk("", tool_calls=[call]), Chunk("c"), Chunk("d"),
              Chunk("", done=True, done_reason="stop")]
    merged = merge_text_chunks(chunks)
    assert [c.text for c in merged] == ["ab", "", "cd", ""]
    assert merged[1].tool_calls == [call] and merged[-1].done


async def test_an_error_in_the_work_reaches_the_consumer_after_what_came_before():
    def failing(cancel: threading.Event) -> Iterator[Chunk]:
        yield Chunk("before ")
        raise ValueError("the work failed")

    received: list[str] = []
    with pytest.raises(ValueError, match="the work failed"):
        async for chunk in stream_from_thread(failing, merge_text_chunks):
            received.append(chunk.text)
    assert received == ["before "]


async def test_leaving_early_cancels_the_work():
    stopped = threading.Event()

    def endless(cancel: threading.Event) -> Iterator[Chunk]:
        try:
            while True:
                time.sleep(0.001)
                yield Chunk("x")
        finally:
            stopped.set()

    async with aclosing(stream_from_thread(endless, merge_text_chunks)) as chunks:
        async for _ in chunks:
            break
    assert stopped.wait(5)


def test_a_merged_piece_says_how_many_pieces_it_joins():
    merged = merge_text_chunks([Chunk("a"), Chunk("b"), Chunk("c"), Chunk("", done=True)])
    assert merged[0].text == "abc" and merged[0].pieces == 3 and merged[1].pieces == 1
