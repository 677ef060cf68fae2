"""Text from a model, a Modelfile or a server, made safe to print: no control character reaches the terminal.

An escape sequence in a model's LICENSE (`\\x1b]0;…\\x07` retitles the window, `\\x1b[2J` clears it) or in
an answer would otherwise act on the user's terminal. Control characters (C0 but tab and newline, DEL,
C1) and the bidirectional overrides that reorder what a reader sees are shown as escapes instead.
"""

from __future__ import annotations

_CONTROLS = [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_TABLE = {**{c: f"\\x{c:02x}" for c in _CONTROLS}, **{c: f"\\u{c:04x}" for c in _BIDI}}


def printable(text: str) -> str:
    """`text` with every control character shown as an escape; tabs and line ends stay."""
    return text.replace("\r\n", "\n").translate(_TABLE)
