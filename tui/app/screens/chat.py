"""The chat: the conversation as Markdown, streamed as it is generated; the prompt, where slash commands
run (with Tab completion and a hint line of their syntax); the status line.

The conversation itself lives in the app's ChatSession (tui.chatsession), shared with the plain REPL:
this screen shows it and drives it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

from ember.backend.errors import EmberError
from ember.backend.parameters import PARAMETERS
from ember.backend.types import Chunk
from ember.tui.app.clipboard import copy_locally
from ember.tui.app.framepacer import FramePacer
from ember.tui.app.keys import CHAT_KEYS, bindings
from ember.tui.app.screens.pick import PickScreen
from ember.tui.app.widgets.command_note import CommandNote
from ember.tui.app.widgets.message_view import MessageView
from ember.tui.app.widgets.prompt_input import PromptInput
from ember.tui.app.widgets.status_line import StatusLine
from ember.tui.chat.codeblocks import CodeBlock, code_blocks
from ember.tui.chat.slash import (
    CommandError,
    CommandSpec,
    complete,
    is_command,
    multiline_body,
    needs_arguments,
    parse_command,
    syntax_hint,
)
from ember.tui.chat.slash_run import run_command
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

DRAFT_SAVE_DELAY = 0.4
GATHER_EARLY = 0.01  # read the gathered answer this long before the frame that draws it


class ChatScreen(Screen):
    BINDINGS = [*bindings(CHAT_KEYS), Binding("tab", "complete", show=False)]

    DEFAULT_CSS = """
    ChatScreen { layout: vertical; }
    ChatScreen #conversation { height: 1fr; padding: 0 1; }
    ChatScreen #conversation > .empty { color: $text-muted; padding: 1 2; }
    ChatScreen #hint { height: auto; max-height: 3; padding: 0 1; color: $text-muted; display: none; }
    ChatScreen #hint.-shown { display: block; }
    """

    def __init__(self) -> None:
        super().__init__(id="chat")
        self.answering = False
        self.last_rate = 0.0
        self._draft_timer = None
        self.model_names: list[str] = []  # for Tab after /load, fetched in a worker
        self._completed = ("", "")  # the prompt text a Tab produced, and the choices it left

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="conversation")
        yield PromptInput(id="prompt")
        yield Static("", id="hint", markup=False)
        yield StatusLine(id="status")
        yield Footer(compact=True, show_command_palette=False)

    @property
    def ember(self):  # type: ignore[no-untyped-def]
        return self.app  # the EmberApp: backend, session, history

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def conversation(self) -> VerticalScroll:
        return self.query_one("#conversation", VerticalScroll)

    def views(self) -> list[MessageView]:
        return list(self.conversation.query(MessageView))

    def on_mount(self) -> None:
        self.conversation.anchor()
        draft = self.ember.history.draft()
        if draft:
            self.prompt.text = draft
            self.prompt.move_cursor(self.prompt.document.end)
        self.prompt.focus()
        self.refresh_status()
        self.fetch_model_names()

    def on_screen_resume(self) -> None:
        self.fetch_model_names()  # the library may have pulled, copied or deleted some

    @work(exclusive=True, group="model-names", exit_on_error=False)
    async def fetch_model_names(self) -> None:
        try:
            self.model_names = sorted(m.name for m in await self.ember.backend.list_models())
        except EmberError:
            pass  # completion just offers no model names

    # conversation --------------------------------------------------------------------------

    def who(self, role: str) -> str:
        session = self.ember.session
        if role == "user":
            return "You"
        model = f"{session.model} @ {self.ember.endpoint}" if self.ember.endpoint else session.model
        return f"{model} · {session.persona_title}" if session.persona is not None else model

    async def add_view(self, role: str, text: str) -> MessageView:
        view = MessageView(role, self.who(role), text)
        await self.conversation.mount(view)
        return view

    async def show_turns(self) -> None:
        """Rebuild the view from the session's turns (after opening a stored conversation)."""
        await self.conversation.remove_children()
        for turn in self.ember.session.turns:
            await self.add_view(turn.role, turn.content)
        self.conversation.scroll_end(animate=False)
        self.refresh_status()

    def refresh_status(self, **changes: object) -> None:
        session = self.ember.session
        num_ctx = session.value("num_ctx")
        self.query_one(StatusLine).show(model=session.model, endpoint=self.ember.endpoint,
                                        persona=session.persona_title, num_ctx=num_ctx, **changes)

    @on(PromptInput.Submitted)
    async def send(self, event: PromptInput.Submitted) -> None:
        if self.answering:
            self.notify("Still answering — Esc stops it first", severity="warning")
            return
        text = multiline_body(event.text).strip()
        self.prompt.clear()
        self.save_draft_now("")
        if not text:
            return
        if is_command(text):
            self.run_command(text)  # never sent to the model
            return
        self.ember.session.add_user(text)
        await self.add_view("user", text)
        self.start_answer()

    @on(PromptInput.Changed)
    def draft_changed(self, event: PromptInput.Changed) -> None:
        text = event.text_area.text
        if text == self._completed[0] and self._completed[1]:
            self.show_hint(self._completed[1])
        else:
            self.show_hint(command_hint(text))
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(DRAFT_SAVE_DELAY, lambda: self.save_draft_now(self.prompt.text))

    def save_draft_now(self, text: str) -> None:
        self.ember.history.save_draft(text)

    # slash commands ------------------------------------------------------------------------

    @work(group="command", exit_on_error=False)
    async def run_command(self, line: str) -> None:
        """Run a slash command through the session: its output is a note in the chat, and the status
        line, the views and the clipboard follow what it changed."""
        app, session = self.ember, self.ember.session
        model, persona = session.model, session.persona_slug
        outcome = await run_command(session, line)
        if outcome.quit:
            await app.action_quit()
            return
        text = outcome.text
        if outcome.copy:
            text = f"{text} to the {self.copy_text(outcome.copy)}"
        if not outcome.error and parse_command(line).name == "/clear":
            await self.conversation.remove_children()
        await self.sync_views()
        await self.conversation.mount(CommandNote(line, text, error=outcome.error))
        self.conversation.scroll_end(animate=False)
        if session.model != model:
            app.model_changed()
        if session.persona_slug != persona:
            app.persona_changed()
        self.refresh_status()
        if outcome.answer is not None:
            self.start_answer(outcome.answer)

    def palette_command(self, spec: CommandSpec) -> None:
        """A command chosen in the palette: run it, or start it in the prompt when it needs more."""
        if needs_arguments(spec):
            self.prompt.text = spec.name + " "
            self.prompt.move_cursor(self.prompt.document.end)
            self.prompt.focus()
        elif self.answering:
            self.notify("Still answering — Esc stops it first", severity="warning")
        else:
            self.run_command(spec.name if "[" in spec.syntax else spec.syntax)

    def show_hint(self, text: str) -> None:
        hint = self.query_one("#hint", Static)
        hint.update(text)
        hint.set_class(bool(text), "-shown")

    def action_complete(self) -> None:
        """Tab: complete a command, parameter, model or persona; elsewhere, move the focus on."""
        text = self.prompt.text
        if self.focused is not self.prompt or not is_command(text) or "\n" in text:
            self.app.action_focus_next()
            return
        completed, choices = complete(text.lstrip(), self.model_names, [p.slug for p in self.ember.personas])
        hint = command_hint(completed)
        if choices:
            shown = completed[: completed.rfind(" ") + 1]
            names = "  ".join(c[len(shown):] for c in choices[:12])
            hint = f"{hint}   ·   {names}{' …' if len(choices) > 12 else ''}"
        elif completed == text.lstrip():
            hint = f"{hint} · nothing to complete"
        self._completed = (completed, hint)
        if completed != text:
            self.prompt.text = completed
        self.prompt.move_cursor(self.prompt.document.end)
        self.show_hint(hint)

    # the answer ----------------------------------------------------------------------------

    def start_answer(self, source: AsyncIterator[Chunk] | None = None) -> None:
        self.answering = True  # at once: a second Enter before the worker starts must wait too
        self.answer(source)

    def on_worker_state_changed(self, event) -> None:  # type: ignore[no-untyped-def]
        """An answer cancelled before it began never reaches its own `finally`."""
        worker = event.worker
        if worker.group == "answer" and worker.is_finished and not any(
                w is not worker and w.group == "answer" and not w.is_finished for w in self.workers):
            self.answering = False

    @work(exclusive=True, group="answer", exit_on_error=False)
    async def answer(self, source: AsyncIterator[Chunk] | None = None) -> None:
        """Stream an answer into a new view: the session's answer to the conversation, or `source`
        (what /retry returns). The session keeps what was said, even when it is stopped."""
        view = await self.add_view("assistant", "")
        self.answering = True
        self.refresh_status(state="thinking", tokens_per_second=0.0, first_token_ms=0.0)
        stream = view.markdown_stream()
        parts: list[str] = []
        pending: list[str] = []
        started = 0.0
        count = 0
        final: Chunk | None = None
        outcome = ""

        pacer = FramePacer()

        async def flush() -> None:
            nonlocal timer
            if finished:
                return
            if started and count > 1:
                self.refresh_status(state="answering", tokens_per_second=(count - 1) / (time.perf_counter() - started))
            if pending:
                text = "".join(pending)
                pending.clear()
                await stream.write(text)
            if not finished:
                timer = self.set_timer(pacer.next_interval(), flush)

        finished = False
        timer = self.set_timer(pacer.interval, flush)
        try:
            async with aclosing(source or self.ember.session.answer()) as chunks:
                async for chunk in chunks:
                    if chunk.text:
                        if not started:
                            started = time.perf_counter()
                        count += chunk.pieces
                        parts.append(chunk.text)
                        pending.append(chunk.text)
                    if chunk.done:
                        final = chunk
                    elif (wait := pacer.due - time.perf_counter() - GATHER_EARLY) > 0:
                        await asyncio.sleep(wait)  # what comes meanwhile arrives as one piece, without a wake-up each
        except asyncio.CancelledError:
            outcome = "stopped"
            raise
        except EmberError as exc:
            outcome = "error"
            self.notify(str(exc), title="The model could not answer", severity="error", timeout=8)
        except Exception as exc:  # a failed worker must show itself, never leave a dead screen
            outcome = "error"
            self.notify(f"{type(exc).__name__}: {exc}", title="Unexpected error", severity="error", timeout=8)
        finally:
            finished = True
            timer.stop()
            await self.finish(view, stream, "".join(parts), final, outcome)

    async def finish(self, view: MessageView, stream, text: str, final: Chunk | None, outcome: str) -> None:  # type: ignore[no-untyped-def]
        try:
            await stream.stop()
            if text:
                await view.set_text(text)  # one full parse: the stream may have left the tail unrendered
            else:
                await view.remove()
        except Exception:  # the app is closing: the session has already kept the answer
            pass
        finally:
            self.answering = False
        changes: dict[str, object] = {"state": outcome}
        if final is not None and final.timings is not None:
            self.last_rate = final.timings.eval_rate
            changes["tokens_per_second"] = final.timings.eval_rate
            changes["first_token_ms"] = getattr(final.timings, "time_to_first_token", 0) / 1e6  # RemoteTimings
            changes["context_used"] = (len(final.context) if final.context
                                       else final.timings.prompt_eval_count + final.timings.eval_count)
        if self.is_attached:
            self.refresh_status(**changes)

    # actions -------------------------------------------------------------------------------

    def action_stop(self) -> None:
        if self.answering:
            self.workers.cancel_group(self, "answer")
            self.notify("Stopped")

    async def action_regenerate(self) -> None:
        if self.answering:
            return
        try:
            self.ember.session.prepare_retry()
        except CommandError:
            self.notify("Nothing to regenerate yet", severity="warning")
            return
        await self.sync_views()
        self.start_answer()

    async def action_edit_last(self) -> None:
        """Take the last message back into the prompt (and drop its answer) to edit and resend it."""
        if self.answering:
            return
        try:
            text = self.ember.session.take_back_last()
        except CommandError:
            self.notify("No message to edit yet", severity="warning")
            return
        await self.sync_views()
        self.prompt.text = text
        self.prompt.move_cursor(self.prompt.document.end)
        self.prompt.focus()

    async def sync_views(self) -> None:
        """Remove the views of messages the session has dropped (they are always the last ones)."""
        views = self.views()
        for view in views[len(self.ember.session.turns):]:
            await view.remove()

    def all_code_blocks(self) -> list[CodeBlock]:
        return [block for turn in self.ember.session.turns if turn.role == "assistant"
                for block in code_blocks(turn.content)]

    def action_copy_code(self) -> None:
        blocks = self.all_code_blocks()
        if not blocks:
            self.notify("No code block in this conversation yet", severity="warning")
            return
        self.copy_block(blocks[-1])

    def action_pick_code(self) -> None:
        blocks = self.all_code_blocks()
        if not blocks:
            self.notify("No code block in this conversation yet", severity="warning")
            return
        items = [f"{b.language or 'text':>10}  {first_line(b)[:52]}" for b in blocks]

        def chosen(index: int | None) -> None:
            if index is not None:
                self.copy_block(blocks[index])

        self.app.push_screen(PickScreen("Copy which code block?", items, selected=len(items) - 1), chosen)

    def copy_block(self, block: CodeBlock) -> None:
        where = self.copy_text(block.code)
        lines = block.code.rstrip("\n").count("\n") + 1
        self.notify(f"Copied {block.language or 'text'} block ({lines} line{'s' if lines > 1 else ''}) "
                    f"to the {where}: {first_line(block)[:40]}")

    def copy_text(self, text: str) -> str:
        """Copy through the terminal (OSC 52) and to the local clipboard; says where it went."""
        self.app.copy_to_clipboard(text)
        return "clipboard" if copy_locally(text) else "terminal clipboard (OSC 52)"

    async def action_new_chat(self) -> None:
        if self.answering:
            self.workers.cancel_group(self, "answer")
        self.ember.session.clear()
        await self.conversation.remove_children()
        self.refresh_status(state="", tokens_per_second=0.0, context_used=0)
        self.prompt.focus()


def command_hint(text: str) -> str:
    """The hint line for what is in the prompt: the syntax of the command being typed."""
    if not is_command(text) or "\n" in text.strip():
        return ""
    hint = syntax_hint(text) or "Unknown command — /? lists them"
    words = text.split()
    if words[:2] == ["/set", "parameter"] and len(words) >= 3 and words[2] in PARAMETERS:
        hint += f"   ·   {words[2]}: {PARAMETERS[words[2]].help}"
    return hint


def first_line(block: CodeBlock) -> str:
    return next((line.strip() for line in block.code.splitlines() if line.strip()), "")
