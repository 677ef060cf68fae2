"""The footer's keys, fitted to the terminal's width: on a narrow one the least needed go first (F1 still
lists every key), instead of the row being cut at the right edge."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

DROPPED_FIRST = ("pick_persona", "open_conversations", "open_parameters", "copy_code", "regenerate")


def key_width(key: FooterKey) -> int:
    """The cells a compact footer key takes: its key, a space, its label, and a space after it."""
    return len(key.key_display) + len(key.description) + 2


def fitted(widgets: Iterable[Widget], width: int) -> list[Widget]:
    """The widgets, less the least needed keys until the row fits `width` cells."""
    shown = list(widgets)
    for action in DROPPED_FIRST:
        if sum(key_width(w) for w in shown if isinstance(w, FooterKey)) <= width:
            break
        shown = [w for w in shown if not (isinstance(w, FooterKey) and w.action == action)]
    return shown


class FittedFooter(Footer):
    def compose(self) -> ComposeResult:
        yield from fitted(super().compose(), self.app.size.width)

    def on_resize(self) -> None:
        self.refresh(recompose=True)
