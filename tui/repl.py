"""A plain line chat for terminals where a full-screen app does not fit (and until it lands)."""

from __future__ import annotations

import asyncio
import signal
import sys

from backend.service import Backend
from backend.types import ChatRequest, Message
from tui.commands import stream_answer
from tui.format import timing_block

HELP = """Available Commands:
  /clear          Clear session context
  /bye            Exit
  /?, /help       Help for a command
Use \"\"\" to begin a multi-line message.
"""


class Repl:
    def __init__(self, backend: Backend, model: str, *, verbose: bool = False) -> None:
        self.backend = backend
        self.model = model
        self.verbose = verbose
        self.messages: list[Message] = []

    def _read(self, prompt: str) -> str | None:
        try:
            return input(prompt)
        except EOFError:
            return None

    def _read_message(self) -> str | None:
        line = self._read(">>> ")
        if line is None or not line.lstrip().startswith('"""'):
            return line
        parts = [line.lstrip()[3:]]
        while '"""' not in parts[-1]:
            more = self._read("... ")
            if more is None:
                break
            parts.append(more)
        parts[-1] = parts[-1].split('"""', 1)[0]
        return "\n".join(parts).strip("\n")

    async def run(self) -> int:
        try:
            import readline  # noqa: F401  (line editing and history for input())
        except ImportError:
            pass
        while True:
            text = await asyncio.to_thread(self._read_message)
            if text is None or text.strip() in ("/bye", "/exit"):
                print()
                return 0
            text = text.strip()
            if not text:
                continue
            if text in ("/?", "/help"):
                print(HELP)
                continue
            if text == "/clear":
                self.messages.clear()
                print("Cleared session context")
                continue
            if text.startswith("/"):
                print(f"Unknown command '{text.split()[0]}'. Type /? for help")
                continue
            await self._turn(text)

    async def _turn(self, text: str) -> None:
        self.messages.append(Message("user", text))
        answer: list[str] = []

        async def chunks():  # type: ignore[no-untyped-def]
            async for chunk in self.backend.chat(ChatRequest(model=self.model, messages=list(self.messages))):
                answer.append(chunk.text)
                yield chunk

        task = asyncio.ensure_future(stream_answer(chunks()))
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, task.cancel)  # Ctrl-C stops the answer, not ember
        except (NotImplementedError, RuntimeError):
            pass
        try:
            timings = await task
        except asyncio.CancelledError:
            timings = None
        finally:
            try:
                loop.remove_signal_handler(signal.SIGINT)
            except (NotImplementedError, RuntimeError):
                pass
        self.messages.append(Message("assistant", "".join(answer)))
        print()
        if self.verbose and timings:
            print(timing_block(timings), file=sys.stderr)
