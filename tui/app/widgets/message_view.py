"""One message in the conversation: who said it, and what, as Markdown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

if TYPE_CHECKING:
    from ember.tui.app.widgets.chat_markdown import ChatMarkdown
    from markdown_it import MarkdownIt


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
        yield ChatMarkdown(self.text, parser_factory=typed_text_parser if self.role == "user" else None)

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
        await self.markdown.update(text)


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
