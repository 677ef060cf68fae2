"""The chat: the conversation as Markdown, streamed as it is generated; the prompt; the status line."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing

from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Markdown

from backend.errors import EmberError
from backend.types import Chunk
from tui.app.clipboard import copy_locally
from tui.app.keys import CHAT_KEYS, bindings
from tui.app.screens.pick import PickScreen
from tui.app.session import Turn
from tui.app.widgets.message_view import MessageView
from tui.app.widgets.prompt_input import PromptInput
from tui.app.widgets.status_line import StatusLine
from tui.codeblocks import CodeBlock, code_blocks

FRAME = 1 / 30  # how often streamed text reaches the screen: tokens are coalesced in between
DRAFT_SAVE_DELAY = 0.4


class ChatScreen(Screen):
    BINDINGS = bindings(CHAT_KEYS)

    DEFAULT_CSS = """
    ChatScreen { layout: vertical; }
    ChatScreen #conversation { height: 1fr; padding: 0 1; }
    ChatScreen #conversation > .empty { color: $text-muted; padding: 1 2; }
    """

    def __init__(self) -> None:
        super().__init__(id="chat")
        self.answering = False
        self.last_rate = 0.0
        self._draft_timer = None

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="conversation")
        yield PromptInput(id="prompt")
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

    # conversation --------------------------------------------------------------------------

    def who(self, role: str) -> str:
        session = self.ember.session
        if role == "user":
            return "You"
        return f"{session.model} · {session.persona_title}" if session.persona is not None else session.model

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
        self.query_one(StatusLine).show(model=session.model, persona=session.persona_title,
                                        num_ctx=num_ctx, **changes)

    @on(PromptInput.Submitted)
    async def send(self, event: PromptInput.Submitted) -> None:
        if self.answering:
            self.notify("Still answering — Esc stops it first", severity="warning")
            return
        text = event.text.strip()
        self.prompt.clear()
        self.save_draft_now("")
        self.record_turn(Turn("user", text))
        await self.add_view("user", text)
        self.answer()

    def record_turn(self, turn: Turn) -> None:
        """Keep a turn in the session and commit it to history at once (a failed save is shown, and the
        chat goes on)."""
        session, history = self.ember.session, self.ember.history
        session.turns.append(turn)
        try:
            if not session.conversation_id:
                session.conversation_id = history.new_conversation(model=session.model,
                                                                   persona=session.persona_slug).id
            stored = history.add_message(session.conversation_id, turn.role, turn.content,
                                         model=session.model, persona=session.persona_slug)
        except EmberError as exc:
            self.notify(str(exc), title="Not saved", severity="error", timeout=10)
            return
        turn.stored_id = stored.id

    @on(PromptInput.Changed)
    def draft_changed(self, event: PromptInput.Changed) -> None:
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(DRAFT_SAVE_DELAY, lambda: self.save_draft_now(self.prompt.text))

    def save_draft_now(self, text: str) -> None:
        self.ember.history.save_draft(text)

    # the answer ----------------------------------------------------------------------------

    @work(exclusive=True, group="answer", exit_on_error=False)
    async def answer(self) -> None:
        session = self.ember.session
        request = session.request()
        view = await self.add_view("assistant", "")
        self.answering = True
        self.refresh_status(state="thinking", tokens_per_second=0.0)
        stream = Markdown.get_stream(view.markdown)
        parts: list[str] = []
        pending: list[str] = []
        started = 0.0
        count = 0
        final: Chunk | None = None
        outcome = ""

        async def flush() -> None:
            if pending:
                text = "".join(pending)
                pending.clear()
                await stream.write(text)
            if started and count > 1:
                self.refresh_status(state="answering", tokens_per_second=(count - 1) / (time.perf_counter() - started))

        timer = self.set_interval(FRAME, flush)
        try:
            async with aclosing(self.ember.backend.chat(request)) as chunks:
                async for chunk in chunks:
                    if chunk.text:
                        if not started:
                            started = time.perf_counter()
                        count += 1
                        parts.append(chunk.text)
                        pending.append(chunk.text)
                    if chunk.done:
                        final = chunk
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
            timer.stop()
            await self.finish(view, stream, "".join(parts), final, outcome)

    async def finish(self, view: MessageView, stream, text: str, final: Chunk | None, outcome: str) -> None:  # type: ignore[no-untyped-def]
        try:
            await stream.stop()
            if text:
                await view.set_text(text)  # one full parse: the stream may have left the tail unrendered
            else:
                await view.remove()
        except Exception:  # the app is closing: the history matters more than the widgets
            pass
        finally:
            if text:
                self.record_turn(Turn("assistant", text))
            self.answering = False
        changes: dict[str, object] = {"state": outcome}
        if final is not None and final.timings is not None:
            self.last_rate = final.timings.eval_rate
            changes["tokens_per_second"] = final.timings.eval_rate
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
        session = self.ember.session
        if not session.turns:
            self.notify("Nothing to regenerate yet", severity="warning")
            return
        if session.turns[-1].role == "assistant":
            await self.drop_last_turn()
        self.answer()

    async def action_edit_last(self) -> None:
        """Take the last message back into the prompt (and drop its answer) to edit and resend it."""
        if self.answering:
            return
        session = self.ember.session
        if not any(t.role == "user" for t in session.turns):
            self.notify("No message to edit yet", severity="warning")
            return
        while session.turns and session.turns[-1].role != "user":
            await self.drop_last_turn()
        turn = await self.drop_last_turn()
        self.prompt.text = turn.content
        self.prompt.move_cursor(self.prompt.document.end)
        self.prompt.focus()

    async def drop_last_turn(self) -> Turn:
        turn = self.ember.session.turns.pop()
        if turn.stored_id:
            self.ember.history.delete_message(turn.stored_id)
        views = self.views()
        if views:
            await views[-1].remove()
        return turn

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
        self.app.copy_to_clipboard(block.code)
        local = copy_locally(block.code)
        where = "clipboard" if local else "terminal clipboard (OSC 52)"
        lines = block.code.rstrip("\n").count("\n") + 1
        self.notify(f"Copied {block.language or 'text'} block ({lines} line{'s' if lines > 1 else ''}) "
                    f"to the {where}: {first_line(block)[:40]}")

    async def action_new_chat(self) -> None:
        if self.answering:
            self.workers.cancel_group(self, "answer")
        self.ember.session.turns.clear()
        self.ember.session.conversation_id = 0
        await self.conversation.remove_children()
        self.refresh_status(state="", tokens_per_second=0.0, context_used=0)
        self.prompt.focus()


def first_line(block: CodeBlock) -> str:
    return next((line.strip() for line in block.code.splitlines() if line.strip()), "")
