"""Run blocking work (llama.cpp, hashing, downloads) in a thread and stream its results to asyncio.

Closing the async iterator sets the cancel event, so a client that goes away stops the work.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

T = TypeVar("T")

# Pulls, creates and imports hold a thread while they run; a pool of its own keeps short calls unblocked.
_EXECUTOR = ThreadPoolExecutor(max_workers=64, thread_name_prefix="ember-work")


class Channel(Generic[T]):
    """Items from any thread to one asyncio consumer, delivered with one hop: `put` runs in the
    producing thread, and the event loop is woken only when the consumer is waiting, so a consumer that
    reads in bursts (a screen drawing a few times a second) costs a wake-up per burst, not one per item.
    An exception put here is raised in the consumer.

    `take_all(gather=…)` lets items gather until the next multiple of `gather` seconds on the loop's
    clock after the previous take, unless one for which `urgent` holds (or an exception) arrives first:
    a stream of tokens then costs one wake-up per window instead of one per token, every channel's
    windows end together (one wake-up serves all the streams), and a stream's end is never held back."""

    def __init__(self, loop: asyncio.AbstractEventLoop, urgent: Callable[[T], bool] | None = None) -> None:
        self._loop = loop
        self._items: list[T | BaseException] = []
        self._lock = threading.Lock()
        self._waiter: asyncio.Future[None] | None = None
        self._holding: asyncio.Future[None] | None = None
        self._urgent = urgent
        self._hurry = False
        self._last_take = 0.0  # the loop's clock: long past

    def put(self, item: T | BaseException) -> None:
        urgent = isinstance(item, BaseException) or self._urgent is None or self._urgent(item)
        with self._lock:
            self._items.append(item)
            self._hurry = self._hurry or urgent
            waiter, self._waiter = self._waiter, None
            if urgent and waiter is None:
                waiter, self._holding = self._holding, None
        if waiter is not None:
            try:
                self._loop.call_soon_threadsafe(_wake, waiter)
            except RuntimeError:  # the consumer's loop has closed: nobody is waiting any more
                pass

    async def take_all(self, gather: float = 0.0) -> list[T]:
        """Everything that arrived since the last call (waiting for at least one item); raises the
        first exception among them after nothing. With `gather`, not sooner than that many seconds
        after the previous call returned, unless something urgent arrived."""
        if gather > 0:
            # a take in the last quarter of a window counts as the window's end: uvloop's timers (whole
            # milliseconds) fire a moment early, and the next window would otherwise end at once
            await self._hold(((self._last_take + gather / 4) // gather + 1) * gather)
        while True:
            with self._lock:
                if self._items:
                    items, self._items, self._hurry = self._items, [], False
                    break
                waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                with self._lock:
                    if self._waiter is waiter:
                        self._waiter = None  # a consumer that left wants no more wake-ups
        self._last_take = self._loop.time()
        failure = next((i for i, item in enumerate(items) if isinstance(item, BaseException)), None)
        if failure is not None:
            if failure == 0:
                raise items[0]  # type: ignore[misc]
            with self._lock:
                self._items[:0] = items[failure:]  # raised on the next call, after what came before
            items = items[:failure]
        return items  # type: ignore[return-value]

    async def _hold(self, until: float) -> None:
        if self._loop.time() >= until:
            return
        with self._lock:
            if self._hurry:
                return
            holding = self._holding = self._loop.create_future()
        timer = self._loop.call_at(until, _wake, holding)
        try:
            await holding
        finally:
            timer.cancel()
            with self._lock:
                if self._holding is holding:
                    self._holding = None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _End:
    """Put after a worker's last item."""


async def stream_from_thread(produce: Callable[[threading.Event], Iterator[T]],
                             merge: Callable[[list[T]], list[T]] | None = None) -> AsyncIterator[T]:
    """Iterate `produce(cancel)` in a worker thread, yielding its items here as they come.

    `merge` may combine the items that arrived together (while the consumer was busy) into fewer.
    """
    loop = asyncio.get_running_loop()
    channel: Channel[T | _End] = Channel(loop)
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
            channel.put(_End())

    future = loop.run_in_executor(_EXECUTOR, work)
    try:
        while True:
            batch = await channel.take_all()
            end = isinstance(batch[-1], _End)
            items: list[T] = batch[:-1] if end else batch  # type: ignore[assignment]
            if merge is not None and len(items) > 1:
                items = merge(items)
            for item in items:
                yield item
            if end:
                break
    finally:
        cancel.set()
        if not future.done():
            await asyncio.shield(future)


async def run_blocking(function: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, function, *args)


@asynccontextmanager
async def closing(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """`stream`, closed on the way out however the reader leaves, so the work behind it stops
    (contextlib.aclosing, for any async iterator: those that cannot be closed are left as they are)."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
