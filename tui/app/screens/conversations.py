"""Stored conversations: search, continue, rename, delete, export as Markdown."""

from __future__ import annotations

import re
import time
from pathlib import Path

from ember.backend.history import Conversation
from ember.tui.app.access import ember_app
from ember.tui.app.screens.ask import AskScreen
from ember.tui.app.screens.confirm import ConfirmScreen
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label


class ConversationsScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "open", "Continue", priority=True),
        Binding("ctrl+r", "rename", "Rename", priority=True),
        Binding("ctrl+d", "delete", "Delete", priority=True),
        Binding("ctrl+x", "export", "Export .md", priority=True),
        Binding("down", "focus_table", show=False),
    ]

    DEFAULT_CSS = """
    ConversationsScreen { layout: vertical; }
    ConversationsScreen > .title { padding: 0 1; background: $panel; text-style: bold; width: 1fr; }
    ConversationsScreen Input { border: tall $primary 40%; }
    ConversationsScreen DataTable { height: 1fr; }
    ConversationsScreen #snippet { height: 2; padding: 0 1; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__(id="conversations")
        self.rows: list[Conversation] = []
        self.snippets: list[str] = []

    def compose(self) -> ComposeResult:
        yield Label("Conversations", classes="title")
        yield Input(placeholder="search every message (type to filter)")
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Label("", id="snippet", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def on_mount(self) -> None:
        self.table.add_columns("TITLE", "PERSONA", "MSGS", "UPDATED")
        self.fill("")
        self.query_one(Input).focus()

    def fill(self, query: str) -> None:
        history = ember_app(self).history
        if query.strip():
            hits = history.search(query)
            self.rows = [h.conversation for h in hits]
            self.snippets = [h.snippet for h in hits]
        else:
            self.rows = history.conversations()
            self.snippets = [""] * len(self.rows)
        self.table.clear()
        for c in self.rows:
            self.table.add_row((c.title or "(untitled)")[:44], c.persona or "-", str(c.message_count),
                               time.strftime("%Y-%m-%d %H:%M", time.localtime(c.updated)), key=str(c.id))
        self.show_snippet()

    @on(Input.Changed)
    def search(self, event: Input.Changed) -> None:
        self.fill(event.value)

    @on(Input.Submitted)
    def to_table(self) -> None:
        self.table.focus()

    @on(DataTable.RowHighlighted)
    def show_snippet(self) -> None:
        index = self.table.cursor_row
        text = self.snippets[index] if 0 <= index < len(self.snippets) else ""
        self.query_one("#snippet", Label).update(text)

    def action_focus_table(self) -> None:
        self.table.focus()

    def selected(self) -> Conversation | None:
        index = self.table.cursor_row
        return self.rows[index] if 0 <= index < len(self.rows) else None

    async def action_open(self) -> None:
        conversation = self.selected()
        if conversation is None:
            return
        self.app.pop_screen()
        await ember_app(self).open_conversation(conversation.id)
        self.notify(f"Continuing: {conversation.title or 'untitled'}")

    def action_rename(self) -> None:
        conversation = self.selected()
        if conversation is None:
            return

        def answered(title: str | None) -> None:
            if title:
                ember_app(self).history.rename(conversation.id, title)
                self.fill(self.query_one(Input).value)

        self.app.push_screen(AskScreen("Rename the conversation:", conversation.title), answered)

    def action_delete(self) -> None:
        conversation = self.selected()
        if conversation is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                ember_app(self).history.delete(conversation.id)
                if ember_app(self).session.conversation_id == conversation.id:
                    ember_app(self).session.conversation_id = None
                self.fill(self.query_one(Input).value)
                self.notify("Deleted")

        self.app.push_screen(ConfirmScreen(f'Delete "{conversation.title or "untitled"}" for good?'), confirmed)

    def action_export(self) -> None:
        conversation = self.selected()
        if conversation is None:
            return
        slug = re.sub(r"[^a-z0-9]+", "-", (conversation.title or "conversation").lower()).strip("-")[:40]

        def answered(path_text: str | None) -> None:
            if not path_text:
                return
            path = Path(path_text).expanduser()
            try:
                path.write_text(ember_app(self).history.export_markdown(conversation.id), encoding="utf-8")
            except OSError as exc:
                self.notify(f"could not write {path}: {exc.strerror} — choose another path", severity="error")
                return
            self.notify(f"Exported to {path}")

        self.app.push_screen(AskScreen("Export as Markdown to:", f"./{slug or 'conversation'}.md"), answered)
