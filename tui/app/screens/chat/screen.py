"""The chat: the conversation as Markdown, streamed as it is generated; the prompt, where slash commands
run (with Tab completion and a hint line of their syntax); the status line.

The conversation itself lives in the app's ChatSession (tui.chat.session), shared with the plain REPL:
this screen shows it and drives it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ember.backend.errors import EmberError
from ember.backend.types import Chunk, Timings
from ember.tui.app.access import ember_app
from ember.tui.app.keys import CHAT_KEYS, bindings
from ember.tui.app.screens.chat.answer import AnswerStream
from ember.tui.app.screens.chat.codecopy import copy_last_block, pick_block_to_copy
from ember.tui.app.screens.chat.commands import TabCompletion, run_in_chat
from ember.tui.app.screens.chat.contextgauge import ContextGauge
from ember.tui.app.screens.chat.drafts import DraftKeeper
from ember.tui.app.screens.chat.labels import message_label
from ember.tui.app.screens.chat.thinking import ThinkingFeed, set_thinking_open, show_stored_thinking
from ember.tui.app.screens.chat.welcome import Welcome, welcome_for
from ember.tui.app.screens.chat.window import EarlierMessages, TurnWindow
from ember.tui.app.widgets.fitted_footer import FittedFooter
from ember.tui.app.widgets.message_view import MessageView
from ember.tui.app.widgets.prompt_input import PromptInput
from ember.tui.app.widgets.status_line import StatusLine
from ember.tui.chat.imagepaths import with_image_lines
from ember.tui.chat.session import Author
from ember.tui.chat.slash import CommandError, CommandSpec, is_command, multiline_body, needs_arguments
from ember.tui.cli.format import answer_figures, timing_block
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

if TYPE_CHECKING:
    from ember.tui.app.app import EmberApp

STILL_ANSWERING = "Still answering — Esc stops it first"


class ChatScreen(Screen):
    BINDINGS = [*bindings(CHAT_KEYS), Binding("tab", "complete", show=False),
                Binding("pageup,shift+pageup", "scroll_conversation(-1)", show=False, priority=True),
                Binding("pagedown,shift+pagedown", "scroll_conversation(1)", show=False, priority=True)]

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
        self.last_rate = 0.0  # the last answer's decode speed (bench/app_decode.py reads it)
        self.model_names: list[str] = []  # for Tab after /load, fetched in a worker
        self.tab = TabCompletion()
        self.gauge = ContextGauge()
        self.drafts: DraftKeeper | None = None
        self.thinking_open = False  # the thinking above answers is folded until the thinking key opens it
        self.window: TurnWindow | None = None

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="conversation")
        yield PromptInput(id="prompt")
        yield Static("", id="hint", markup=False)
        yield StatusLine(id="status")
        yield FittedFooter(compact=True, show_command_palette=False)

    @property
    def ember(self) -> EmberApp:
        return ember_app(self)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def conversation(self) -> VerticalScroll:
        return self.query_one("#conversation", VerticalScroll)

    def views(self) -> list[MessageView]:
        return list(self.conversation.query(MessageView))

    @property
    def turns_window(self) -> TurnWindow:
        assert self.window is not None, "the chat screen is not mounted"
        return self.window

    def on_mount(self) -> None:
        self.drafts = DraftKeeper(self.ember.history, self.set_timer)
        self.window = TurnWindow(self.conversation, self.mount_turns)
        self.watch(self.conversation, "scroll_y", self.scrolled, init=False)
        self.conversation.anchor()
        draft = self.drafts.saved()
        if draft:
            self.prompt.text = draft
            self.prompt.move_cursor(self.prompt.document.end)
        self.prompt.focus()
        self.refresh_status()
        self.fetch_model_names()
        self.welcome()

    def welcome(self) -> None:
        """An empty chat says how to begin, and offers the last conversation."""
        if not self.ember.session.turns:
            self.conversation.mount(welcome_for(self.ember))

    def end_welcome(self) -> None:
        self.conversation.query(Welcome).remove()

    def on_screen_resume(self) -> None:
        self.fetch_model_names()  # the library may have pulled, copied or deleted some

    @work(exclusive=True, group="model-names", exit_on_error=False)
    async def fetch_model_names(self) -> None:
        try:
            self.model_names = sorted(m.name for m in await self.ember.backend.list_models())
        except EmberError:
            pass  # completion just offers no model names

    # conversation --------------------------------------------------------------------------

    def who(self, role: str, author: Author | None = None) -> str:
        return message_label(self.ember, role, author)

    async def add_view(self, role: str, text: str, author: Author | None = None) -> MessageView:
        self.end_welcome()
        view = MessageView(role, self.who(role, author), text)
        await self.conversation.mount(view)
        return view

    async def show_turns(self) -> None:
        """Rebuild the view from the session's turns (after opening a stored conversation): the newest
        of them, and a line above saying how many earlier ones scrolling up shows."""
        session = self.ember.session
        await self.conversation.remove_children()
        self.end_welcome()
        self.prompt.earlier = [t.content for t in session.turns if t.role == "user"]
        window = self.turns_window
        await self.mount_turns(window.start_at(len(session.turns)), len(session.turns), None)
        await window.mark()
        self.conversation.scroll_end(animate=False)
        self.gauge.reset()
        self.refresh_status(state="", tokens_per_second=0.0, **self.context_estimate())

    async def mount_turns(self, start: int, stop: int, before: MessageView | None) -> None:
        """The views of the session's turns [start, stop), with their stored thinking."""
        session = self.ember.session
        turns = session.turns[start:stop]
        views = [MessageView(turn.role, self.who(turn.role, session.author(turn)),
                             with_image_lines(turn.content, session.images_of(turn))) for turn in turns]
        if not views:
            return
        await self.conversation.mount(*views, before=before)
        if not session.state.hide_thinking:
            for view, turn in zip(views, turns, strict=True):
                if turn.thinking:
                    await show_stored_thinking(view, turn.thinking, self.thinking_key(), self.thinking_open)

    async def sync_views(self) -> None:
        """Remove the views of messages the session has dropped (they are always the last ones)."""
        for view in self.turns_window.views_beyond(len(self.ember.session.turns)):
            await view.remove()

    async def clear_conversation(self) -> None:
        await self.conversation.remove_children()
        self.turns_window.first = 0

    async def scrolled(self, y: float) -> None:
        if y <= 0 and self.turns_window.first:
            await self.turns_window.show_earlier()

    def on_click(self, event: events.Click) -> None:
        if isinstance(event.widget, EarlierMessages):
            self.run_worker(self.turns_window.show_earlier(), group="earlier")

    def context_estimate(self) -> dict[str, int | bool]:
        messages = self.ember.session.request().messages
        return {"context_used": self.gauge.estimate(messages) if self.ember.session.turns else 0,
                "context_estimated": bool(self.ember.session.turns)}

    def context_cleared(self) -> None:
        self.gauge.reset()
        self.refresh_status(context_used=0, context_estimated=False)

    def refresh_status(self, **changes: object) -> None:
        session = self.ember.session
        num_ctx = session.value("num_ctx")
        self.query_one(StatusLine).show(model=session.model, endpoint=self.ember.endpoint,
                                        persona=session.persona_title, num_ctx=num_ctx,
                                        serving=self.ember.serving,
                                        served_by=self.ember.served_by if not self.ember.endpoint else "",
                                        **changes)

    # the prompt ----------------------------------------------------------------------------

    @on(PromptInput.Submitted)
    async def send(self, event: PromptInput.Submitted) -> None:
        if self.answering:
            self.notify(STILL_ANSWERING, severity="warning")
            if not self.prompt.text:  # the message stays in the prompt, to send once the answer ends
                self.prompt.text = event.text
                self.prompt.move_cursor(self.prompt.document.end)
            return
        text = multiline_body(event.text).strip()
        self.prompt.remember(event.text.strip())
        self.save_draft_now(self.prompt.text)
        if not text:
            return
        if is_command(text):
            self.run_command(text)  # never sent to the model
            return
        try:
            text, images = await self.ember.session.take_images(text)
        except EmberError as exc:
            self.notify(str(exc), severity="error")
            return
        if self.ember.session.images.warning:
            self.notify(self.ember.session.images.warning, severity="warning")
        self.ember.session.add_user(text, images)
        await self.turns_window.trim()
        await self.add_view("user", with_image_lines(text, images))
        self.start_answer()

    @on(PromptInput.Changed)
    def draft_changed(self, event: PromptInput.Changed) -> None:
        self.show_hint(self.tab.hint_for(event.text_area.text))
        if self.drafts is not None:
            self.drafts.changed(lambda: self.prompt.text)

    async def action_scroll_conversation(self, pages: int) -> None:
        if pages < 0 and self.conversation.scroll_y <= 0:
            await self.turns_window.show_earlier()
        elif pages < 0:
            self.conversation.scroll_page_up()
        else:
            self.conversation.scroll_page_down()

    def on_key(self, event: events.Key) -> None:
        """A letter typed while the conversation (or anything else here) has the focus goes to the prompt."""
        if self.focused is not self.prompt and event.is_printable and event.character:
            event.stop()
            self.prompt.focus()
            self.prompt.insert(event.character)

    def save_draft_now(self, text: str) -> None:
        if self.drafts is not None:
            self.drafts.save_now(text)

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
        completed, hint = self.tab.complete(text, self.model_names, [p.slug for p in self.ember.personas])
        if completed != text:
            self.prompt.text = completed
        self.prompt.move_cursor(self.prompt.document.end)
        self.show_hint(hint)

    # slash commands ------------------------------------------------------------------------

    @work(group="command", exit_on_error=False)
    async def run_command(self, line: str) -> None:
        await run_in_chat(self, line)

    def palette_command(self, spec: CommandSpec) -> None:
        """A command chosen in the palette: run it, or start it in the prompt when it needs more."""
        if needs_arguments(spec):
            self.prompt.text = spec.name + " "
            self.prompt.move_cursor(self.prompt.document.end)
            self.prompt.focus()
        elif self.answering:
            self.notify(STILL_ANSWERING, severity="warning")
        else:
            self.run_command(spec.name if "[" in spec.syntax else spec.syntax)

    # the answer ----------------------------------------------------------------------------

    def start_answer(self, source: AsyncIterator[Chunk] | None = None) -> None:
        self.answering = True  # at once: a second Enter before the worker starts must wait too
        self.answer(source)

    def on_worker_state_changed(self, event) -> None:
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
        before = self.context_estimate()
        self.refresh_status(state="thinking", tokens_per_second=0.0, first_token_ms=0.0, **before)
        thinking = ThinkingFeed(view, self.thinking_key(), self.thinking_open, self.ember.session.state.hide_thinking)
        stream = AnswerStream(self, view, self.refresh_status, context_before=int(before["context_used"]),
                              thinking=thinking)
        try:
            await stream.run(source or self.ember.session.answer())
        finally:
            self.answering = False
            changes = stream.status_changes()
            final = stream.result.final
            if final is not None and final.timings is not None:
                self.last_rate = final.timings.eval_rate
                self.gauge.counted(int(changes["context_used"]), self.ember.session.request().messages)
            if self.is_attached:
                self.refresh_status(**changes)
                if final is not None and final.timings is not None and view.is_attached:
                    await self.show_figures(view, final.timings)

    async def show_figures(self, view: MessageView, timings: Timings) -> None:
        verbose = timing_block(timings) if self.ember.session.state.verbose else ""
        try:
            await view.add_figures(answer_figures(timings), verbose)
        except Exception:  # the app is closing
            pass

    # thinking ------------------------------------------------------------------------------

    def thinking_key(self) -> str:
        from ember.tui.app.keyhelp import DEFAULTS
        from ember.tui.app.keys import key_label

        return key_label(self.ember.keymap.get("thinking", DEFAULTS["thinking"]).split(",")[0])

    def action_toggle_thinking(self) -> None:
        """Open or fold the thinking above every answer, and above the answers to come."""
        self.thinking_open = not self.thinking_open
        if not set_thinking_open(self.views(), self.thinking_open):
            think = self.ember.session.state.think
            self.notify("No thinking to show yet: a thinking model's answers have it"
                        + (" (thinking is off: /set think)" if think is False else ""), timeout=5)

    # actions -------------------------------------------------------------------------------

    def action_stop(self) -> None:
        if self.answering:
            self.workers.cancel_group(self, "answer")
            self.notify("Stopped")

    def action_interrupt(self) -> None:
        """Ctrl+C: stop the answer, as in the plain chat; else copy the prompt's selection, or say how to quit."""
        if self.answering:
            self.action_stop()
        elif self.focused is self.prompt and self.prompt.selected_text:
            self.prompt.action_copy()
        else:
            self.app.action_help_quit()

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

    def action_copy_code(self) -> None:
        copy_last_block(self.app, self.ember.session.turns)

    def action_pick_code(self) -> None:
        pick_block_to_copy(self.app, self.ember.session.turns)

    async def action_new_chat(self) -> None:
        if self.answering:
            self.workers.cancel_group(self, "answer")
        self.ember.session.clear()
        await self.clear_conversation()
        self.context_cleared()
        self.refresh_status(state="", tokens_per_second=0.0)
        self.welcome()
        self.prompt.focus()
