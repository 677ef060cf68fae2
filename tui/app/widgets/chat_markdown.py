"""Markdown for chat messages: Textual's widget, with labelled, highlighted code fences."""

from __future__ import annotations

from ember.tui.app.widgets.code_fence import LabeledFence
from textual.widgets import Markdown


class ChatMarkdown(Markdown):
    DEFAULT_CSS = """
    ChatMarkdown {
        padding: 0 1;
        margin: 0;
    }
    """

    BLOCKS = {**Markdown.BLOCKS, "fence": LabeledFence, "code_block": LabeledFence}
