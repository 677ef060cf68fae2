"""A decoded image as the engine takes it, and the placeholder id its positions hold in a sequence.

No llama.cpp here: the API and the CLI check and decode images without loading the bindings.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Image:
    """A decoded image: its RGB pixels, row by row, and the sha256 of the file it came from."""

    width: int
    height: int
    rgb: bytes
    digest: str


def placeholder(digest: str) -> int:
    """The id every position of one image holds in a slot's token list: negative, from its digest."""
    return -1 - int(digest[:7], 16)
