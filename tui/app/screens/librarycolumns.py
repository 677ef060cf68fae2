"""Which columns the model library shows: all on a wide terminal; on a narrow one the least needed go
first (MODIFIED, FAMILY, QUANT, PARAMS), so NAME, SIZE and CTX are never cut."""

from __future__ import annotations

COLUMNS = ("NAME", "SIZE", "QUANT", "FAMILY", "PARAMS", "CTX", "MODIFIED")
DROPPED_FIRST = ("MODIFIED", "FAMILY", "QUANT", "PARAMS")
WIDTHS = {"SIZE": 8, "QUANT": 7, "FAMILY": 8, "PARAMS": 6, "CTX": 7, "MODIFIED": 10}  # their usual cells
CELL_PADDING = 2  # a DataTable cell's padding, one each side
SCROLLBAR = 2


def columns_for(width: int, name_width: int) -> tuple[str, ...]:
    """The columns that fit `width` cells when the longest name is `name_width` long."""
    shown = list(COLUMNS)

    def needed() -> int:
        return sum((name_width if c == "NAME" else WIDTHS[c]) + CELL_PADDING for c in shown) + SCROLLBAR

    for column in DROPPED_FIRST:
        if needed() <= width:
            break
        shown.remove(column)
    return tuple(shown)
