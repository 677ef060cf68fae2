"""Markdown for chat messages: Textual's widget, with labelled, highlighted code fences, and blocks that
grow cheaply while an answer streams into them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ember.tui.app.widgets.code_fence import LabeledFence
from ember.tui.app.widgets.growing import release_room, update_growing
from ember.tui.safetext import printable
from markdown_it import MarkdownIt
from textual.await_complete import AwaitComplete
from textual.content import Content
from textual.widgets import Markdown
from textual.widgets._markdown import MarkdownBlock, MarkdownParagraph

# stands for a space of indentation Markdown would drop (message_view.keep_indents): Textual's paragraphs
# fold every run of whitespace into one space, so the indentation is put back once they have
KEPT_SPACE = "\ue000"


class GrowingParagraph(MarkdownParagraph):
    def set_content(self, content: Content) -> None:
        if KEPT_SPACE in content.plain:
            content = Content(content.plain.replace(KEPT_SPACE, " "), list(content.spans))
        self._content = content
        update_growing(self, content, room=self._markdown.room if isinstance(self._markdown, ChatMarkdown) else 0)

    def release_room(self) -> None:
        release_room(self)


class ChatMarkdown(Markdown):
    DEFAULT_CSS = """
    ChatMarkdown {
        padding: 0 1;
        margin: 0;
    }
    """

    BLOCKS = {**Markdown.BLOCKS, "paragraph_open": GrowingParagraph, "fence": LabeledFence,
              "code_block": LabeledFence}

    room = 0  # while an answer streams into it: the blank lines its growing block keeps (growing.py)
    _growing: MarkdownBlock | None = None  # the block the stream is adding to

    # a model's text never sends control characters to the terminal
    def __init__(self, markdown: str | None = None, *,
                 parser_factory: Callable[[], MarkdownIt] | None = None, **kwargs: Any) -> None:
        parser = (parser_factory or gfm_parser)()  # one parser for every append, not one each
        super().__init__(printable(markdown) if markdown else markdown, parser_factory=lambda: parser, **kwargs)

    def update(self, markdown: str) -> AwaitComplete:
        return super().update(printable(markdown))

    def append(self, markdown: str) -> AwaitComplete:
        appended = super().append(printable(markdown))

        async def then_release() -> None:
            await appended
            self._release_room_above()

        return AwaitComplete(then_release())

    def _release_room_above(self) -> None:
        """Only the last block keeps blank lines to grow into: the one before it has stopped growing."""
        blocks = [child for child in self.children if isinstance(child, MarkdownBlock)]
        last = blocks[-1] if blocks else None
        if last is not self._growing:
            if isinstance(self._growing, GrowingParagraph | LabeledFence) and self._growing.is_attached:
                self._growing.release_room()
            self._growing = last


def gfm_parser() -> MarkdownIt:
    return MarkdownIt("gfm-like")
