"""Choose one item from a list (a persona, a code block). Enter picks, Esc cancels."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList


class PickScreen(ModalScreen[int | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    PickScreen { align: center middle; }
    PickScreen > Vertical {
        width: 72; height: auto; max-height: 20; padding: 0 1;
        border: thick $primary; background: $surface;
    }
    PickScreen OptionList { height: auto; max-height: 16; border: none; }
    """

    def __init__(self, title: str, items: list[str], selected: int = 0) -> None:
        super().__init__()
        self.title_text = title
        self.items = items
        self.selected = selected

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield OptionList(*self.items)

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.items:
            options.highlighted = min(self.selected, len(self.items) - 1)
        options.focus()

    @on(OptionList.OptionSelected)
    def picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option_index)

    def action_cancel(self) -> None:
        self.dismiss(None)
