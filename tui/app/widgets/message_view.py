"""One message in the conversation: who said it, and what, as Markdown."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

if TYPE_CHECKING:
    from ember.tui.app.widgets.chat_markdown import ChatMarkdown
    from markdown_it import MarkdownIt


LIST_ITEM = re.compile(r"([-*+]|\d+[.)])\s")


class MessageView(Vertical):
    DEFAULT_CSS = """
    MessageView {
        height: auto;
        margin: 0 0 1 0;
        & > .who {
            padding: 0 1;
            text-style: bold;
        }
        &.user > .who { color: $text-secondary; }
        &.assistant > .who { color: $text-primary; }
        & > .figures { padding: 0 1; color: $text-muted; text-style: dim; }
        & > .timings { padding: 0 1; color: $text-muted; }
        &.user { border-left: outer $secondary 50%; }
        &.assistant { border-left: outer $primary 50%; }
    }
    """

    def __init__(self, role: str, who: str, text: str = "") -> None:
        super().__init__(classes=role)
        self.role = role
        self.who = who
        self.text = text

    def compose(self) -> ComposeResult:
        # Markdown's parser loads with the first message, not before the first screen
        from ember.tui.app.widgets.chat_markdown import ChatMarkdown

        yield Label(self.who, classes="who")
        # what the user typed keeps its own line breaks; an answer is Markdown as the model meant it
        yield ChatMarkdown(self._shown(self.text), parser_factory=typed_text_parser if self.role == "user" else None)

    @property
    def markdown(self) -> ChatMarkdown:
        from ember.tui.app.widgets.chat_markdown import ChatMarkdown

        return self.query_one(ChatMarkdown)

    def set_who(self, who: str) -> None:
        self.who = who
        self.query_one(".who", Label).update(who)

    async def add_figures(self, figures: str, timings: str = "") -> None:
        """The answer's figures under it, quietly; with /set verbose, Ollama's timing block too."""
        from textual.widgets import Static

        await self.mount(Static(figures, classes="figures", markup=False))
        if timings:
            await self.mount(Static(timings, classes="timings", markup=False))

    async def set_text(self, text: str) -> None:
        self.text = text
        await self.markdown.update(self._shown(text))

    def _shown(self, text: str) -> str:
        return keep_indents(text) if self.role == "user" else text


def keep_indents(text: str) -> str:
    """What the user typed, with the indentation of each line that goes on a paragraph (pasted code without a
    fence) kept on screen, where Markdown would drop it (chat_markdown.KEPT_SPACE)."""
    from ember.tui.app.widgets.chat_markdown import KEPT_SPACE

    lines, fenced, previous = [], False, ""
    for line in text.split("\n"):
        stripped = line.lstrip(" \t")
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and stripped != line and stripped and previous.strip() and not LIST_ITEM.match(stripped):
            indent = line[: len(line) - len(stripped)].replace("\t", "    ")
            line = KEPT_SPACE * len(indent) + stripped
        lines.append(line)
        previous = line
    return "\n".join(lines)


def typed_text_parser() -> MarkdownIt:
    """Markdown where every line break the user typed is a line break on screen."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("gfm-like")
    parser.core.ruler.push("typed_line_breaks", _soft_breaks_as_hard)
    return parser


def _soft_breaks_as_hard(state) -> None:
    for token in state.tokens:
        for child in token.children or ():
            if child.type == "softbreak":
                child.type = "hardbreak"
