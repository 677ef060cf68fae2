"""Scoring a prompt: every token's log probability given the tokens before it (OpenAI's `echo` with
`logprobs`, which evaluation harnesses read to compare the likelihood of answers).

Row i of a prompt evaluated with logits at every row is the model's distribution over the token at
i + 1, so a prompt scored this way is evaluated from its first token (a cached prefix has no logits
left), but for the start it shares with a prompt scored before (ScoredPrefix). These are the model's own
probabilities (a softmax of the logits, no sampler, no penalty): what "how likely is this text" means. A step scores at most `rows_for(n_vocab)` rows, so the logits of
one step (rows × vocabulary floats, which llama.cpp keeps allocated) stay within LOGITS_BYTES.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import llama_cpp as lc
import numpy as np

MOST_ROWS = 256
LOGITS_BYTES = 64 << 20
FEWEST_ROWS = 8


def rows_for(n_vocab: int) -> int:
    """Prompt rows one step scores: 256 for a 49k vocabulary, 64 for a 262k one."""
    return max(FEWEST_ROWS, min(MOST_ROWS, LOGITS_BYTES // (4 * max(n_vocab, 1))))


@dataclass
class RowScore:
    """The log probability of the token that came next, and the likeliest tokens with theirs."""

    logprob: float
    top: list[tuple[int, float]]


@dataclass
class ScoredPrefix:
    """The scores a slot computed for the prompt it last scored: the scores of a prompt's tokens depend only
    on the tokens before them, so a later prompt that starts the same way (a multiple-choice question's
    other answers) reuses them, and the slot's cache of that start, and evaluates only the rest."""

    tokens: list[int]
    scores: list[RowScore]  # for tokens[1:]
    top: int


@dataclass
class PromptScoring:
    """What a request that scores its prompt keeps while the prompt is evaluated."""

    top: int  # alternatives to give for each token
    prompt: list[int] = field(default_factory=list)  # the tokens scored, set when the request is admitted
    scores: list[RowScore] = field(default_factory=list)  # for prompt[1:], in order

    def score_rows(self, ctx: lc.llama_context_p, first: int, count: int, n_vocab: int) -> None:
        """Score the prompt tokens that rows first..first + count - 1 of the batch just decoded predicted."""
        done = len(self.scores)
        for row in range(first, first + count):
            if done + 1 < len(self.prompt):  # the prompt's last row predicts the answer's first token instead
                done += 1
                self.scores.append(score_row(ctx, row, n_vocab, self.prompt[done], self.top))

    def saved(self) -> ScoredPrefix:
        """The scores of the whole prompt, kept by its slot for the next prompt that starts the same way."""
        return ScoredPrefix(list(self.prompt), list(self.scores), self.top)

    def reuse(self, saved: ScoredPrefix, keep: int) -> None:
        """Start from the saved scores of the prompt's first `keep` tokens after the first, alternatives cut."""
        self.scores = [RowScore(score.logprob, score.top[: self.top]) for score in saved.scores[:keep]]


def score_row(ctx: lc.llama_context_p, row: int, n_vocab: int, following: int, top: int) -> RowScore:
    """How likely the batch's row `row` made `following`, the token after it, and the `top` likeliest: each
    a logit less the log of the row's summed exponentials, in float32 summed in float64 (half the time of
    working on a float64 copy of the row; the same figures to 1e-6)."""
    logits = np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, row), shape=(n_vocab,))
    peak = float(logits.max())
    total = peak + math.log(float(np.exp(logits - peak).sum(dtype=np.float64)))
    best: list[tuple[int, float]] = []
    if top > 0:
        count = min(top, n_vocab)
        order = [int(np.argmax(logits))] if count == 1 else np.argpartition(logits, n_vocab - count)[n_vocab - count :]
        best = sorted(((int(i), float(logits[i]) - total) for i in order), key=lambda t: -t[1])
    return RowScore(float(logits[following]) - total, best)
