"""Work in a thread streamed to asyncio: every item arrives in order, a busy consumer gets what piled up
in fewer pieces, errors reach the consumer, and leaving early stops the work."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import aclosing

import pytest
from ember.backend.asyncbridge import Channel, stream_from_thread
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


def _producer(channel: Channel[Chunk], count: int, pause: float) -> threading.Thread:
    def work() -> None:
        for chunk in pieces(count):
            time.sleep(pause)
            channel.put(chunk)
    thread = threading.Thread(target=work)
    thread.start()
    return thread


async def _takes(channel: Channel[Chunk], gather: float) -> list[tuple[float, list[Chunk]]]:
    loop = asyncio.get_running_loop()
    takes: list[tuple[float, list[Chunk]]] = []
    while not takes or not takes[-1][1][-1].done:
        items = await channel.take_all(gather)
        takes.append((loop.time(), items))
    return takes


async def test_a_gathering_take_hands_over_a_window_of_items_at_once_and_the_end_at_once():
    await _one_take_a_window()


def test_one_take_a_window_on_uvloop_too():
    """`ember serve`'s loop: its timers fire a moment early, which must not end the next window at once."""
    uvloop = pytest.importorskip("uvloop")
    uvloop.run(_one_take_a_window())


async def _one_take_a_window() -> None:
    loop = asyncio.get_running_loop()
    channel: Channel[Chunk] = Channel(loop, urgent=lambda chunk: chunk.done)
    started = loop.time()
    thread = _producer(channel, 40, 0.012)  # ~0.5 s of items, one every 12 ms: ten windows
    takes = await _takes(channel, 0.05)
    thread.join()
    windows = (loop.time() - started) / 0.05
    got = [chunk for _, items in takes for chunk in items]
    assert "".join(c.text for c in got) == "".join(f"{n} " for n in range(40))  # nothing lost, in order
    assert len(takes) <= windows + 3  # a take per window (and the first and the end), not one per item
    assert len(takes[0][1]) == 1  # the first item is not held back


async def test_the_end_of_a_stream_is_not_held_for_the_window():
    loop = asyncio.get_running_loop()
    channel: Channel[Chunk] = Channel(loop, urgent=lambda chunk: chunk.done)
    first = await asyncio.to_thread(lambda: channel.put(Chunk("a")))
    assert first is None and [c.text for c in await channel.take_all(10.0)] == ["a"]
    started = loop.time()
    waiting = asyncio.ensure_future(channel.take_all(10.0))  # a 10 s window
    await asyncio.sleep(0.05)
    await asyncio.to_thread(lambda: channel.put(Chunk("b")))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # an ordinary item waits for the window
    await asyncio.to_thread(lambda: channel.put(Chunk("", done=True)))
    items = await asyncio.wait_for(waiting, 2)
    assert [c.text for c in items] == ["b", ""] and loop.time() - started < 2
