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


class _Channel:
    """Items from one thread to one asyncio consumer. The event loop is woken only when the consumer
    is waiting, so a consumer that reads in bursts (a screen drawing a few times a second) costs a
    wake-up per burst, not one per item."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: list[object] = []
        self._lock = threading.Lock()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: object) -> None:
        with self._lock:
            self._items.append(item)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    async def take_all(self) -> list[object]:
        while True:
            with self._lock:
                if self._items:
                    items, self._items = self._items, []
                    return items
                waiter = self._waiter = self._loop.create_future()
            await waiter


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def stream_from_thread(produce: Callable[[threading.Event], Iterator[T]],
                             merge: Callable[[list[T]], list[T]] | None = None) -> AsyncIterator[T]:
    """Iterate `produce(cancel)` in a worker thread, yielding its items here as they come.

    `merge` may combine the items that arrived together (while the consumer was busy) into fewer.
    """
    loop = asyncio.get_running_loop()
    channel = _Channel(loop)
    cancel = threading.Event()

    def work() -> None:
        try:
            for item in produce(cancel):
                channel.put(item)
                if cancel.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, who re-raises it
            channel.put(exc)
        finally:
            channel.put(_END)

    future = loop.run_in_executor(_EXECUTOR, work)
    try:
        while True:
            batch = await channel.take_all()
            end = batch[-1] is _END
            items = batch[:-1] if end else batch
            failure = next((item for item in items if isinstance(item, BaseException)), None)
            if failure is None and merge is not None and len(items) > 1:
                items = merge(items)  # type: ignore[arg-type]
            for item in items:
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
            if end:
                break
    finally:
        cancel.set()
        if not future.done():
            await asyncio.shield(future)


async def run_blocking(function: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, function, *args)
