"""What a slash command said, shown in the chat: the command as typed, then its output (never sent to
the model, and not part of the conversation)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static


class CommandNote(Vertical):
    DEFAULT_CSS = """
    CommandNote {
        height: auto;
        margin: 0 0 1 0;
        padding: 0 1;
        border-left: outer $accent 40%;
        color: $text-muted;
        & > .command { text-style: bold; }
        &.-error { border-left: outer $error; }
        &.-error > .output { color: $text-error; }
    }
    """

    def __init__(self, command: str, output: str, *, error: bool = False) -> None:
        super().__init__(classes="-error" if error else "")
        self.command = command
        self.output = output

    def compose(self) -> ComposeResult:
        yield Static(self.command, classes="command", markup=False)
        if self.output:
            yield Static(self.output, classes="output", markup=False)
