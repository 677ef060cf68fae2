"""A fenced code block highlighted by pygments (through Textual), with its language on top; a line
wider than the screen wraps (copying a block still copies each line whole)."""

from __future__ import annotations

from contextlib import suppress

from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.widgets import Label
from textual.widgets._markdown import MarkdownBlock, MarkdownFence


class LabeledFence(MarkdownFence):
    DEFAULT_CSS = """
    LabeledFence {
        margin: 1 0;
        overflow-x: hidden;
        & > .fence-language {
            dock: top;
            width: 1fr;
            padding: 0 1;
            color: $text-accent;
            background: $boost;
            text-style: bold;
        }
        & > #code-content {
            padding: 0 1;
            width: 1fr;
            text-wrap: wrap;
            text-overflow: fold;
        }
    }
    """

    @property
    def language(self) -> str:
        return (self.lexer or "").split()[0] if self.lexer else "text"

    def compose(self) -> ComposeResult:
        yield Label(self.language, classes="fence-language")
        yield from super().compose()

    async def _update_from_block(self, block: MarkdownBlock) -> None:
        await super()._update_from_block(block)
        with suppress(NoMatches):
            self.query_one(".fence-language", Label).update(self.language)
