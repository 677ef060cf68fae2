"""A one-line question: a name, a path, a title. Enter answers, Esc cancels."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Label


class AskScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("tab", "take_suggestion", "Complete", show=False, priority=True)]

    DEFAULT_CSS = """
    AskScreen { align: center middle; }
    AskScreen > Vertical {
        width: 70; height: auto; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    AskScreen .hint { color: $text-muted; }
    """

    def __init__(self, question: str, value: str = "", hint: str = "Enter: OK · Esc: cancel",
                 suggester: Suggester | None = None) -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.hint = hint
        self.suggester = suggester  # e.g. paths, taken with Tab

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            yield Input(self.value, suggester=self.suggester)
            yield Label(self.hint, classes="hint")

    @on(Input.Submitted)
    def answer(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_take_suggestion(self) -> None:
        field = self.query_one(Input)
        if field._suggestion:
            field.value = field._suggestion
            field.cursor_position = len(field.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
