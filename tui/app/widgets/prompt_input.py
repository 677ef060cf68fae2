"""Where the user types: Enter sends, Ctrl+J starts a new line (both survive tmux and SSH), and so
does Enter inside a message begun with three double quotes, until they are typed again. Up and Down
in an empty prompt go through the messages sent before, as in a shell."""

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

    def __init__(self, **kwargs) -> None:
        # a steady cursor: each blink redrew the prompt twice a second, idle or not (1.6 % of a core at
        # rest on a small machine, taken from the decode while an answer streams, and bytes over SSH)
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.cursor_blink = False
        self.placeholder = "Message (Enter sends, Ctrl+J new line, Ctrl+P commands)"
        self.earlier: list[str] = []  # messages sent before, oldest first
        self._recalled: int | None = None  # which of them the prompt shows

    def remember(self, text: str) -> None:
        if text and (not self.earlier or self.earlier[-1] != text):
            self.earlier.append(text)
        self._recalled = None

    def _recall(self, step: int) -> bool:
        """Up (-1) / Down (+1) through earlier messages, when the prompt is empty or shows one of them."""
        showing = self._recalled is not None and self.text == self.earlier[self._recalled]
        if not self.earlier or not (showing or not self.text):
            return False
        row = self.cursor_location[0]
        if (step < 0 and row != 0) or (step > 0 and (not showing or row != self.document.line_count - 1)):
            return False
        index = (len(self.earlier) if not showing else self._recalled) + step  # type: ignore[operator]
        if index < 0:
            return True
        if index >= len(self.earlier):
            self._recalled = None
            self.text = ""
            return True
        self._recalled = index
        self.text = self.earlier[index]
        self.move_cursor(self.document.end)
        return True

    async def _on_key(self, event: events.Key) -> None:
        newline = event.key in ("ctrl+j", "shift+enter") or (event.key == "enter" and multiline_open(self.text))
        if newline:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        if event.key in ("up", "down") and self._recall(-1 if event.key == "up" else 1):
            event.stop()
            event.prevent_default()
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            if self.text.strip():
                # emptied here, before the next key: what is typed (or pasted) right after Enter is the next message
                text = self.text
                self.clear()
                self.post_message(self.Submitted(text))
            return
        await super()._on_key(event)
