"""The plain line chat: for TERM=dumb, pipes, `--plain`, and anyone who prefers a prompt.

Line editing, history (kept in the data directory), Ctrl-R search and Tab completion come from
prompt_toolkit; the commands and the conversation come from ChatSession, shared with the app.
"""

from __future__ import annotations

import asyncio
import base64
import signal
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ember.backend.errors import EmberError
from ember.backend.service import Backend
from ember.tui.chat.session import ChatSession, ChatState
from ember.tui.chat.slash import completions, is_command
from ember.tui.chat.slash_run import run_command
from ember.tui.cli.format import timing_block
from ember.tui.cli.streaming import stream_answer
from ember.tui.safetext import printable

if TYPE_CHECKING:
    from ember.backend.history import History
    from prompt_toolkit import PromptSession


def _completer(models: list[str], personas: list[str]):
    from prompt_toolkit.completion import Completer, Completion

    class ChatCompleter(Completer):
        def get_completions(self, document, complete_event) -> Iterable[Completion]:
            text = document.text_before_cursor
            for choice in completions(text, models, personas):
                yield Completion(choice, start_position=-len(text))

    return ChatCompleter()


class Repl:
    def __init__(self, backend: Backend, model: str, *, verbose: bool = False, history: History | None = None,
                 think: bool | str | None = None, hide_thinking: bool = False) -> None:
        state = ChatState(model=model, verbose=verbose, think=think, hide_thinking=hide_thinking)
        self.session = ChatSession(backend, state, history)
        self.session.on_save_error = lambda exc: print(f"Not saved: {exc}", file=sys.stderr)
        self.backend = backend
        self._prompt: PromptSession[str] | None = None

    async def _setup_editor(self) -> None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            return
        from ember.backend.config import data_dir
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory

        models = [m.name for m in await self.backend.list_models()]
        try:
            personas = [p.slug for p in self.session.personas]
        except (EmberError, OSError):
            personas = []
        path = data_dir() / "repl_history"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._prompt = PromptSession(history=FileHistory(str(path)), completer=_completer(models, personas),
                                     complete_while_typing=False)

    async def _read(self, prompt: str) -> str | None:
        if self._prompt is None:
            try:
                return await asyncio.to_thread(input, prompt)
            except EOFError:
                return None
        while True:
            try:
                return await self._prompt.prompt_async(prompt)
            except EOFError:
                return None
            except KeyboardInterrupt:
                print("Use Ctrl + d or /bye to exit.")

    async def _read_message(self) -> str | None:
        line = await self._read(">>> ")
        if line is None or not line.lstrip().startswith('"""'):
            return line
        parts = [line.lstrip()[3:]]
        while '"""' not in parts[-1]:
            more = await self._read("... ")
            if more is None:
                break
            parts.append(more)
        parts[-1] = parts[-1].split('"""', 1)[0]
        return "\n".join(parts).strip("\n")

    async def run(self) -> int:
        if self.session.history is None:
            from ember.backend.history import History

            self.session.history = History()
        await self._setup_editor()
        while True:
            text = await self._read_message()
            if text is None:
                print()
                return 0
            text = text.strip()
            if not text:
                continue
            if is_command(text):
                outcome = await run_command(self.session, text)
                if outcome.copy:
                    _osc52(outcome.copy)
                if outcome.text:
                    print(printable(outcome.text))
                if outcome.quit:
                    return 0
                if outcome.answer is not None:
                    await self._show_answer(outcome.answer)
                continue
            try:
                text, images = await self.session.take_images(text)
            except EmberError as exc:
                print(f"Error: {exc}", file=sys.stderr)
                continue
            for image in images:
                print(f"Added image '{image.path}'")
            if self.session.images.warning:
                print(self.session.images.warning, file=sys.stderr)
            await self._show_answer(self.session.send(text, images))

    async def _show_answer(self, chunks) -> None:
        task = asyncio.ensure_future(stream_answer(chunks, show_thinking=not self.session.state.hide_thinking))
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, task.cancel)  # Ctrl-C stops the answer, not ember
        except (NotImplementedError, RuntimeError):
            pass
        try:
            timings = await task
        except asyncio.CancelledError:
            timings = None
        except EmberError as exc:  # e.g. a server that stops mid-answer: the partial answer stays, the chat goes on
            print(f"\nError: {exc}", file=sys.stderr)
            timings = None
        finally:
            try:
                loop.remove_signal_handler(signal.SIGINT)
            except (NotImplementedError, RuntimeError):
                pass
        print()
        if self.session.state.verbose and timings:
            print(timing_block(timings), file=sys.stderr)


def _osc52(text: str) -> None:
    """Put text on the terminal's clipboard (works over SSH; tmux needs `set-clipboard on`)."""
    if sys.stdout.isatty():
        sys.stdout.write("\x1b]52;c;" + base64.b64encode(text.encode()).decode() + "\a")
        sys.stdout.flush()
