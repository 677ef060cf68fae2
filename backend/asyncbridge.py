"""Run blocking work (llama.cpp, hashing, downloads) in a thread and stream its results to asyncio.

Closing the async iterator sets the cancel event, so a client that goes away stops the work.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_END = object()

# Generation holds a thread for the whole answer; a pool of its own keeps short calls unblocked.
_EXECUTOR = ThreadPoolExecutor(max_workers=64, thread_name_prefix="ember-work")


async def stream_from_thread(produce: Callable[[threading.Event], Iterator[T]]) -> AsyncIterator[T]:
    """Iterate `produce(cancel)` in a worker thread, yielding its items here as they come."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    cancel = threading.Event()
    put = queue.put_nowait

    def work() -> None:
        try:
            for item in produce(cancel):
                loop.call_soon_threadsafe(put, item)
                if cancel.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, who re-raises it
            loop.call_soon_threadsafe(put, exc)
        finally:
            loop.call_soon_threadsafe(put, _END)

    future = loop.run_in_executor(_EXECUTOR, work)
    try:
        while True:
            item = await queue.get()
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        cancel.set()
        if not future.done():
            await asyncio.shield(future)


async def run_blocking(function: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, function, *args)
