"""Markdown for chat messages: Textual's widget, with labelled, highlighted code fences."""

from __future__ import annotations

from typing import Any

from ember.tui.app.widgets.code_fence import LabeledFence
from ember.tui.safetext import printable
from textual.await_complete import AwaitComplete
from textual.widgets import Markdown


class ChatMarkdown(Markdown):
    DEFAULT_CSS = """
    ChatMarkdown {
        padding: 0 1;
        margin: 0;
    }
    """

    BLOCKS = {**Markdown.BLOCKS, "fence": LabeledFence, "code_block": LabeledFence}

    # a model's text never sends control characters to the terminal
    def __init__(self, markdown: str | None = None, **kwargs: Any) -> None:
        super().__init__(printable(markdown) if markdown else markdown, **kwargs)

    def update(self, markdown: str) -> AwaitComplete:
        return super().update(printable(markdown))

    def append(self, markdown: str) -> AwaitComplete:
        return super().append(printable(markdown))
