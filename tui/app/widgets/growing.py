"""Text that grows while an answer streams, drawn again without laying the screen out when it can be.

Textual lays out every widget of the screen whenever a widget's text changes, in case its height did,
and when the answer's last line reaches the bottom of the conversation everything on screen moves up
and is drawn again. On a small machine each of those costs a share of the model's decode. So the block
an answer is growing keeps some blank lines below its text (half the conversation's height): new lines
fill them with only the block redrawn, and the screen is laid out (and scrolls) once they are used up.
The settled answer is drawn afresh, without the room.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.content import Content
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.css.styles import RulesMap


def update_growing(widget: Static, content: Content, *, room: int) -> None:
    """Show `content` in `widget`; lay out again only when it needs more lines than it has (or, without
    `room` blank lines to keep, another number of lines)."""
    width, height = widget.content_size
    if not width:
        widget.update(content)
        return
    needed = content.get_height(cast("RulesMap", widget.styles), width)
    kept = has_room(widget)
    if needed == height or (kept and needed <= height):
        widget.update(content, layout=False)
        return
    if room:
        widget.styles.min_height = needed + room + widget.styles.gutter.height
    widget.update(content)


def has_room(widget: Static) -> bool:
    return widget.styles.inline.has_rule("min_height")


def release_room(widget: Static) -> None:
    """The block is no longer the one growing: its blank lines go."""
    if has_room(widget):
        widget.styles.min_height = None
