"""Which of a long conversation's messages are on the screen: the newest, and earlier ones as the user
scrolls up to them.

Every message is a handful of widgets, and Textual lays out every widget of the screen each time the
streaming answer grows a line, so a conversation of fifty messages costs each frame several times what
one of ten does, taken from the model's decode on a small machine. The chat shows the newest
`SHOWN` messages; reaching the top of the conversation (PageUp, the wheel, Home) shows `SHOWN` more above,
where they were. When a long session has mounted more than `TRIM_AT`, the oldest go again as a new
answer starts at the bottom.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ember.tui.app.widgets.message_view import MessageView
from textual.containers import VerticalScroll
from textual.widgets import Static

SHOWN = 8
TRIM_AT = 2 * SHOWN


class EarlierMessages(Static):
    """The line above the oldest message shown, saying how many came before it."""

    DEFAULT_CSS = """
    EarlierMessages { color: $text-muted; padding: 0 1; margin: 0 0 1 0; text-style: italic; }
    """

    def show_count(self, count: int) -> None:
        plural = "s" if count > 1 else ""
        self.update(f"↑ {count} earlier message{plural}: scroll up (PageUp) to see them")


@dataclass
class TurnWindow:
    """The index of the first shown turn; the views from there on are the conversation's last ones."""

    conversation: VerticalScroll
    mount_turns: Callable[[int, int, MessageView | None], Awaitable[None]]  # views of turns [start, stop),
    # mounted before the given view (at the end when None)
    first: int = 0

    def views(self) -> list[MessageView]:
        return list(self.conversation.query(MessageView))

    def start_at(self, turns: int) -> int:
        """A conversation of `turns` turns is opened: the first one to show."""
        self.first = max(0, turns - SHOWN)
        return self.first

    async def mark(self) -> None:
        """Put the line that counts the earlier messages at the top, or take it away."""
        marks = list(self.conversation.query(EarlierMessages))
        if not self.first:
            for mark in marks:
                await mark.remove()
            return
        if marks:
            marks[0].show_count(self.first)
            return
        mark = EarlierMessages(markup=False)
        mark.show_count(self.first)
        await self.conversation.mount(mark, before=0)

    async def show_earlier(self) -> bool:
        """Show up to SHOWN earlier messages above the shown ones, keeping what is on screen in place."""
        if not self.first:
            return False
        shown = self.views()
        start = max(0, self.first - SHOWN)
        stop, self.first = self.first, start
        above = shown[0] if shown else None
        await self.mount_turns(start, stop, above)
        await self.mark()
        if above is not None:
            self.conversation.call_after_refresh(self.conversation.scroll_to_widget, above, top=True, animate=False)
        return True

    async def trim(self) -> None:
        """In a long session at the bottom of the conversation, drop the oldest views beyond SHOWN."""
        shown = self.views()
        if len(shown) <= TRIM_AT or not self.conversation.is_vertical_scroll_end:
            return
        dropped = shown[: len(shown) - SHOWN]
        await self.conversation.remove_children(dropped)
        self.first += len(dropped)
        await self.mark()

    def views_beyond(self, turns: int) -> list[MessageView]:
        """The views of turns past the session's `turns` (the session dropped its last ones)."""
        return self.views()[max(0, turns - self.first):]
