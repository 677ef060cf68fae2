"""A fenced code block highlighted by pygments (through Textual), with its language on top; a line
wider than the screen wraps (copying a block still copies each line whole).

The code is shown in chunks of `CHUNK_LINES` lines, one label each. While an answer streams, the block
grows at its end: only the last chunk is highlighted and drawn again, so a frame costs the same at the
fortieth line of a block as at the first; and the last chunk is as tall as a full one from the start
(growing.py says why), so the screen is laid out once a chunk, not once a line. Streamed chunks are highlighted one by one (a string that
spans two of them may be coloured wrongly for a moment); the settled answer highlights the whole block.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING

from ember.tui.app.widgets.growing import release_room, update_growing
from textual.app import ComposeResult
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import Label
from textual.widgets._markdown import MarkdownBlock, MarkdownFence

if TYPE_CHECKING:
    from markdown_it.token import Token
    from textual.widgets import Markdown

CHUNK_LINES = 12
WRAP_ROOM = 3  # the lines a streaming chunk keeps beyond its own for those that wrap


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
        & > .code-chunk {
            padding: 0 1;
            width: 1fr;
            text-wrap: wrap;
            text-overflow: fold;
        }
    }
    """

    def __init__(self, markdown: Markdown, token: Token, code: str) -> None:
        # MarkdownFence's own __init__ highlights the whole block, and the streamed Markdown builds a
        # block for every frame only to copy it into this one: highlighting waits until it is drawn
        MarkdownBlock.__init__(self, markdown, token)
        self.code = code
        self.lexer = token.info
        self._highlighted_code = Content()
        self.auto_links = False
        self._shown: list[str] = []  # the code of each chunk label, as last drawn
        self._language = self.language

    @property
    def language(self) -> str:
        return (self.lexer or "").split()[0] if self.lexer else "text"

    @property
    def room(self) -> int:
        """The blank lines the block keeps to grow into while an answer streams into it (0: none)."""
        return int(getattr(self._markdown, "room", 0))

    @property
    def streaming(self) -> bool:
        return self.room > 0

    def compose(self) -> ComposeResult:
        yield Label(self.language, classes="fence-language")
        self._shown = chunk_texts(self.code)
        contents = self._chunk_contents(self._shown)
        for i, content in enumerate(contents):
            yield self._chunk_label(content, last=i == len(contents) - 1)

    def _chunk_label(self, content: Content, last: bool) -> Label:
        label = Label(content, classes="code-chunk", expand=True)
        if last and self.streaming:  # drawn at its full height at once: its lines come without a new layout
            label.styles.min_height = CHUNK_LINES + WRAP_ROOM
        return label

    async def _update_from_block(self, block: MarkdownBlock) -> None:
        if not isinstance(block, MarkdownFence):
            await super()._update_from_block(block)
            return
        self._copy_context(block)
        await self._redraw(restyle=False)

    def _copy_context(self, block: MarkdownBlock) -> None:
        if isinstance(block, MarkdownFence):
            self.code, self.lexer = block.code, block.lexer
        self._token = block._token

    def notify_style_update(self) -> None:
        """The theme changed: every chunk is highlighted again in its colours."""
        if self.is_mounted and self._shown:
            self.call_later(self._redraw, True)
        MarkdownBlock.notify_style_update(self)

    async def _redraw(self, restyle: bool) -> None:
        texts = chunk_texts(self.code)
        labels = list(self.query(".code-chunk").results(Label))
        changed = [i for i, text in enumerate(texts)
                   if restyle or i >= len(self._shown) or self._shown[i] != text]
        contents = dict(zip(changed, self._chunk_contents(texts, only=changed), strict=True))
        last = len(texts) - 1
        for i in changed:
            if i < len(labels):
                update_growing(labels[i], contents[i], room=self.room if i == last else 0)
        for label in labels[:last]:
            release_room(label)
        for label in labels[len(texts):]:
            await label.remove()
        if len(texts) > len(labels):
            await self.mount_all([self._chunk_label(contents[i], last=i == last)
                                  for i in range(len(labels), len(texts))])
        self._shown = texts
        if self.language != self._language:
            self._language = self.language
            with suppress(NoMatches):
                self.query_one(".fence-language", Label).update(self.language)

    def release_room(self) -> None:
        for label in self.query(".code-chunk").results(Label):
            release_room(label)

    def _chunk_contents(self, texts: list[str], only: list[int] | None = None) -> list[Content]:
        """The highlighted chunks (those at `only`): each alone while streaming, else cut from the whole."""
        wanted = range(len(texts)) if only is None else only
        if self.streaming:
            return [self._highlight(texts[i]) for i in wanted]
        lines = self._highlight("\n".join(texts)).split("\n", allow_blank=True)
        return [Content("\n").join(lines[i * CHUNK_LINES:(i + 1) * CHUNK_LINES]) for i in wanted]

    def _highlight(self, code: str) -> Content:
        return self.highlight(code, self.lexer or ("text" if self.streaming else ""),
                              ansi=self.app.native_ansi_color, dark=self.app.current_theme.dark)


def chunk_texts(code: str) -> list[str]:
    lines = code.split("\n")
    return ["\n".join(lines[i:i + CHUNK_LINES]) for i in range(0, len(lines), CHUNK_LINES)]

