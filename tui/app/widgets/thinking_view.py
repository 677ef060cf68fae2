"""A thinking model's thinking, above its answer: dimmed, folded to one summary line ("Thinking…" while
it streams, "Thought for N s" once the answer begins) and opened or folded again with a key.

Folded, streamed thinking costs one short line per frame; open, its text is redrawn once a frame."""

from __future__ import annotations

from ember.tui.safetext import printable
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

FOLDED, OPEN = "▸", "▾"


def summary_text(thinking: bool, seconds: float | None, words: int, key: str, is_open: bool) -> str:
    """The summary line: what the thinking is, how long it took when known, and the key that opens it."""
    if thinking:
        what = "Thinking…"
    elif seconds is not None:
        what = f"Thought for {max(1, round(seconds))} s"
    else:
        what = f"Thought ({words} word{'s' if words != 1 else ''})"
    return f"{OPEN if is_open else FOLDED} {what} · {key} {'folds' if is_open else 'opens'} it"


class ThinkingView(Vertical):
    DEFAULT_CSS = """
    ThinkingView {
        height: auto;
        padding: 0 1;
        color: $text-muted;
        text-style: dim;
        & > .summary { text-style: dim italic; }
        & > .thought { display: none; padding: 0 0 0 2; }
        &.-open > .thought { display: block; }
    }
    """

    def __init__(self, text: str = "", *, key: str = "Ctrl+T", is_open: bool = False,
                 seconds: float | None = None, streaming: bool = False) -> None:
        super().__init__(classes="-open" if is_open else "")
        self.text = text
        self.key = key
        self.is_open = is_open
        self.seconds = seconds
        self.streaming = streaming
        self._drawn = ""  # the text the open view shows, so a fold and reopen redraws only what changed

    def compose(self) -> ComposeResult:
        yield Static(self.summary(), classes="summary", markup=False)
        yield Static(printable(self.text) if self.is_open else "", classes="thought", markup=False)
        self._drawn = self.text if self.is_open else ""

    def summary(self) -> str:
        return summary_text(self.streaming, self.seconds, len(self.text.split()), self.key, self.is_open)

    def append(self, text: str) -> None:
        """More thinking (once a frame, from the answer's stream): drawn only where it can be seen."""
        self.text += text
        if self.is_open:
            self._draw()

    def finish(self, seconds: float | None) -> None:
        """The thinking is over (the answer began, or ended): the summary says how long it took."""
        self.streaming = False
        self.seconds = seconds
        self._draw()

    def set_open(self, is_open: bool) -> None:
        self.is_open = is_open
        self.set_class(is_open, "-open")
        self._draw()

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        self.query_one(".summary", Static).update(self.summary())
        if self.is_open and self._drawn != self.text:
            self.query_one(".thought", Static).update(printable(self.text))
            self._drawn = self.text
