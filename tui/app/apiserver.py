"""The Ollama and OpenAI API served from the app's own process: the same backend, so the models the chat
has loaded answer an editor or a script too, with no second copy in memory. The server runs on the app's
event loop (uvicorn), behind the same Host/Origin/key checks as `ember serve`."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from ember.backend.config import Config
from ember.backend.service import Backend


@dataclass
class ApiServer:
    backend: Backend
    config: Config
    listen: str = ""  # host:port; empty: the configured address (EMBER_HOST, 127.0.0.1:11434)
    url: str = ""  # where it serves, once started
    _server: Any = None
    _task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> str:
        """Bind and serve in the background; the URL. Raises EmberError (the port in use, a bad address)."""
        import uvicorn
        from ember.backend.api.app import create_app
        from ember.backend.api.server import bind, parse_listen
        from ember.backend.api.uvserver import QuietServer

        host, port = parse_listen(self.listen or self.config.host)
        sock = bind(host, port)
        app = create_app(self.backend, self.config, extra_hosts=(host,))
        self._server = QuietServer(uvicorn.Config(app, log_level="critical", timeout_graceful_shutdown=2,
                                                     server_header=False, log_config=None))
        self._task = asyncio.create_task(self._serve(sock))
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.02)
        if self._task.done():
            self._task.result()  # what stopped it
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        return self.url

    async def _serve(self, sock) -> None:
        try:
            await self._server._serve(sockets=[sock])  # not serve(): the app, not uvicorn, owns the signals
        finally:
            sock.close()

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.request_exit()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, timeout=5)
        self._task = None
        self.url = ""
