"""Where the user types: Enter sends, Ctrl+J starts a new line (both survive tmux and SSH), and so
does Enter inside a message begun with three double quotes, until they are typed again."""

from __future__ import annotations

from ember.tui.chat.slash import multiline_open
from textual import events
from textual.message import Message
from textual.widgets import TextArea


class PromptInput(TextArea):
    DEFAULT_CSS = """
    PromptInput {
        height: auto;
        min-height: 3;
        max-height: 8;
        border: round $primary 60%;
        &:focus { border: round $primary; }
        padding: 0 1;
    }
    """

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.placeholder = "Message (Enter sends, Ctrl+J new line, Ctrl+P commands)"

    async def _on_key(self, event: events.Key) -> None:
        newline = event.key in ("ctrl+j", "shift+enter") or (event.key == "enter" and multiline_open(self.text))
        if newline:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            if self.text.strip():
                self.post_message(self.Submitted(self.text))
            return
        await super()._on_key(event)
