"""Turn a stream of token bytes into text: whole UTF-8 characters only, stop strings never shown."""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class TextStream:
    """Feed token pieces in, get printable text out; `stopped` turns True at a stop string.

    Text that might be the start of a stop string is held back until it is clearly not one,
    and bytes of an unfinished UTF-8 character wait for the rest of the character.
    """

    def __init__(self, stops: Sequence[str] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._stops = tuple(s for s in stops if s)
        self._longest = max((len(s) for s in self._stops), default=0)
        self._held = ""
        self.stopped = False
        self.matched = ""  # the stop string that ended the text

    def feed(self, piece: bytes) -> str:
        if self.stopped:
            return ""
        text = self._decoder.decode(piece)
        if not self._stops:
            return text
        if not text:
            return ""
        pending = self._held + text
        cut = -1
        for stop in self._stops:
            at = pending.find(stop)
            if at != -1 and (cut == -1 or at < cut):
                cut, self.matched = at, stop
        if cut != -1:
            self.stopped = True
            self._held = ""
            return pending[:cut]
        keep = self._partial_stop_suffix(pending)
        self._held = pending[len(pending) - keep :] if keep else ""
        return pending[: len(pending) - keep]

    def _partial_stop_suffix(self, text: str) -> int:
        """Length of the longest tail of `text` that begins some stop string."""
        for size in range(min(len(text), self._longest - 1), 0, -1):
            tail = text[-size:]
            if any(stop.startswith(tail) for stop in self._stops):
                return size
        return 0

    def flush(self) -> str:
        """What is left when generation ends without a stop string."""
        rest = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return "" if self.stopped else rest
