"""When an answer with no length limit must stop anyway: it filled its context several times, or it loops.

Ollama's `num_predict: -1` means "until the model ends it", and a small model may never end it: it runs
through context shift after context shift, or repeats one sentence forever. An unlimited answer stops

- after `CONTEXT_FILLS` × num_ctx tokens: `done_reason` "context";
- when its last tokens are one cycle of at most `LOOP_LONGEST_PERIOD` tokens repeated, covering at least
  `LOOP_SPAN` tokens and `LOOP_REPEATS` cycles: `done_reason` "repetition". An exact repetition that long
  adds no text; answers that repeat on purpose (a numbered list, a table) vary more often than that.

`num_predict: -2` fills the context once: the answer ends when the sequence is full instead of shifting,
with `done_reason` "length". An answer given a positive `num_predict` is the client's bound, so neither
stop applies to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

CONTEXT_FILLS = 4
LOOP_LONGEST_PERIOD = 64
LOOP_REPEATS = 8
LOOP_SPAN = 256
CHECK_EVERY = 8

FILLED_CONTEXT = "context"
REPETITION = "repetition"
FILL_CONTEXT_ONCE = -2
UNLIMITED = -1


class LoopDetector:
    """Feed tokens one by one; `feed` returns True once the latest ones are one cycle repeated.

    It looks every `CHECK_EVERY` tokens (so a loop is seen at most that many tokens late): for each
    period whose last token matches, one comparison of two list slices, done in C.
    """

    def __init__(self, longest_period: int = LOOP_LONGEST_PERIOD, repeats: int = LOOP_REPEATS,
                 span: int = LOOP_SPAN) -> None:
        self.longest_period = longest_period
        # the tokens a cycle of period p must cover, p included
        self._needed = [0] + [max(span, repeats * p) for p in range(1, longest_period + 1)]
        self._keep = self._needed[-1]
        self._history: list[int] = []
        self._fed = 0

    def feed(self, token: int) -> bool:
        history = self._history
        history.append(token)
        if len(history) > 2 * self._keep:
            del history[: -self._keep]
        self._fed += 1
        return self._fed % CHECK_EVERY == 0 and self.looping()

    def feed_all(self, tokens: Iterable[int]) -> bool:
        """Feed every token; True when the detector fired at any of them."""
        fired = False
        for token in tokens:
            fired = self.feed(token) or fired
        return fired

    def looping(self) -> bool:
        """Whether the tokens fed so far end in one cycle repeated (checked now, whatever the count)."""
        history, n = self._history, len(self._history)
        last = history[-1] if history else -1
        for p in range(1, self.longest_period + 1):
            needed = self._needed[p]
            if n < needed:
                break
            if history[-1 - p] != last:
                continue
            tail = needed - p  # the last `tail` tokens equal those p before them
            if history[n - tail:] == history[n - tail - p : n - p]:
                return True
        return False


@dataclass
class AnswerStops:
    """The stops of one answer; the batch loop sets `num_ctx` to the context's real size on admission."""

    num_predict: int
    num_ctx: int
    loops: LoopDetector | None = field(default=None)

    def __post_init__(self) -> None:
        if self.num_predict == UNLIMITED and self.loops is None:
            self.loops = LoopDetector()

    @property
    def fill_once(self) -> bool:
        """A full sequence ends the answer instead of being shifted."""
        return self.num_predict == FILL_CONTEXT_ONCE

    def after(self, token: int, count: int) -> str:
        """The done_reason that ends the answer now `token` is its `count`-th token, or ""."""
        if self.num_predict != UNLIMITED:
            return ""
        if self.loops is not None and self.loops.feed(token):
            return REPETITION
        if count >= CONTEXT_FILLS * self.num_ctx:
            return FILLED_CONTEXT
        return ""
