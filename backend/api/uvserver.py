"""uvicorn's server, woken less often while it idles."""

from __future__ import annotations

import asyncio
from types import FrameType

import uvicorn


class QuietServer(uvicorn.Server):
    """uvicorn's server with its housekeeping (the Date header, the exit check) once a second instead
    of ten times: every wake-up of the event loop costs CPU beside the model's threads. A request to
    exit (Ctrl-C, `request_exit`) wakes it at once."""

    _loop: asyncio.AbstractEventLoop | None = None
    _exit: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._exit = asyncio.get_running_loop(), asyncio.Event()
        ticks = 0
        while not await self.on_tick(ticks):  # a multiple of 10: on_tick refreshes the Date header
            ticks = (ticks + 10) % 864000
            try:
                await asyncio.wait_for(self._exit.wait(), 1.0)
            except TimeoutError:
                pass

    def request_exit(self) -> None:
        self.should_exit = True
        if self._loop is not None and self._exit is not None:
            try:
                self._loop.call_soon_threadsafe(self._exit.set)
            except RuntimeError:  # the loop has already closed
                pass

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self.should_exit:
            self.request_exit()
