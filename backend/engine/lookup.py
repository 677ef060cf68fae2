"""Prompt lookup: draft an answer's next tokens from the tokens it has already seen.

An answer that repeats its input (an edited file, a rewrite, a summary that quotes) usually goes on
the way its last few tokens went on the last time they appeared. The batch loop feeds those following
tokens after a sequence's sampled token, in the same llama_decode as every other sequence, with logits
at each; it then samples every row in order and keeps a draft token only while it is the token the
sampler chose, so each step yields one token plus the drafts that were right.

Sampling every row exactly as without drafts and keeping a draft only where it equals the sampled
token is the speculative acceptance rule for a draft that proposes one token with certainty (accept
it with probability p(draft), otherwise sample from p without it): the answer is the one the sampler
would have given without drafts, greedy or not, with the same seed, grammar, penalties and logprobs.

A draft row costs a good part of a sampled one on a CPU (measured as the loop decodes beside other
answers, a fixed table for a lone one: backend.engine.rowcost), so drafts must be right most of the time
to pay. Each answer estimates how often a draft token is right, for each length of match, from the drafts
it fed and, while it feeds none, from whether the token sampled next is the one a draft would have
proposed (which costs nothing); it drafts the number of tokens that gives the most tokens per unit of
work at that rate, and none where none pays (most free text).
"""

from __future__ import annotations

from functools import lru_cache

from ember.backend.engine.rowcost import PRIOR as PRIOR_ROW_COST
from ember.backend.engine.rowcost import RowCost, linear_costs, lone_costs

NGRAM_SIZES = (4, 3, 2)  # the longest match is tried first: it predicts best
MEMORY = 0.9  # how much of its past each acceptance estimate keeps at every new outcome
PRIOR = (1.0, 1.0)  # (right, wrong) drafts assumed before any is seen: right guesses must come first


def best_size(percent: int, most: int, sharing: int = 1, row_cost: int = round(PRIOR_ROW_COST * 100)) -> int:
    """Draft tokens giving the most tokens per unit of work when each is right with `percent`% chance,
    `sharing` sequences (this one included) decode in the same step and one more row costs `row_cost`% of
    a one-row step: a draft row slows all of them, so the more share a step, the surer a draft must be
    to pay."""
    return best_for(percent, sharing, linear_costs(sharing, most, row_cost))


@lru_cache(maxsize=4096)
def best_for(percent: int, sharing: int, costs: tuple[int, ...]) -> int:
    """Draft tokens (0 to len(costs) - 1) giving the most tokens per unit of work, `costs[k]` being what a
    step of sharing + k rows costs."""
    p = percent / 100

    def yield_per_cost(k: int) -> float:
        expected = float(k + 1) if p >= 1 else (1 - p ** (k + 1)) / (1 - p)  # a run of right drafts, plus one
        return (sharing - 1 + expected) / costs[k]

    return max(range(len(costs)), key=yield_per_cost)


class Lookup:
    """One answer's token history, indexed by its n-grams, and how often its drafts have been right."""

    def __init__(self, prompt: list[int], most: int) -> None:
        self.most = most
        self.drafted = 0  # draft tokens fed to the model (counted by the batch loop)
        self.accepted = 0  # of those, the ones the sampler chose
        self._tokens: list[int] = []
        self._after: tuple[dict[tuple[int, ...], int], ...] = tuple({} for _ in NGRAM_SIZES)
        self._right = [PRIOR[0]] * len(NGRAM_SIZES)  # discounted outcomes for each match length
        self._wrong = [PRIOR[1]] * len(NGRAM_SIZES)
        self._match = -1  # which match length the last draft (or guess) came from
        self._source = -1  # where in the history the last draft (or guess) was taken from
        self._next = -1  # where the copy being followed goes on, if it is still being followed
        self._guess = -1  # the token a draft would have proposed, when none was fed
        for token in prompt:
            self.append(token)

    def append(self, token: int) -> None:
        """Add the next token of the prompt or the answer."""
        if self._guess >= 0:
            right = token == self._guess
            self._learn(self._match, int(right), int(not right))
            self._next = self._source + 1 if right else -1
            self._guess = -1
        tokens = self._tokens
        end = len(tokens)
        tokens.append(token)
        # Each n-gram that ended just before `token` now has a continuation: the latest one wins.
        for after, n in zip(self._after, NGRAM_SIZES, strict=True):
            if end >= n:
                after[tuple(tokens[end - n : end])] = end

    def draft(self, room: int, sharing: int = 1, costs: RowCost | None = None) -> list[int]:
        """Up to `room` tokens that followed the latest earlier occurrence of the history's last n-gram,
        as many as pay with `sharing` sequences decoding in the step, steps costing what `costs` measured
        (none: a lone answer's fixed table, or the prior's linear costs beside others)."""
        tokens = self._tokens
        for match, (after, n) in enumerate(zip(self._after, NGRAM_SIZES, strict=True)):
            if len(tokens) < n:
                continue
            tail = tokens[-n:]
            at = self._next if n <= self._next < len(tokens) and tokens[self._next - n : self._next] == tail \
                else after.get(tuple(tail))  # an answer that copies goes on where its copy was: prefer it
            if at is None:
                continue
            self._source = at
            self._match = match
            rate = self._right[match] / (self._right[match] + self._wrong[match])
            most = min(self.most, room)
            if most <= 0:
                size = 0
            else:
                steps = costs.steps(sharing, most) if costs is not None else lone_costs(most) if sharing == 1 \
                    else linear_costs(sharing, most, round(PRIOR_ROW_COST * 100))
                size = best_for(int(rate * 100), sharing, steps)
            if size == 0:
                self._guess = tokens[at]
                return []
            return tokens[at : at + size]
        return []

    def settle(self, drafted: int, accepted: int) -> None:
        """Learn from a draft of `drafted` tokens of which the first `accepted` were right."""
        self._learn(self._match, accepted, int(accepted < drafted))
        self._next = self._source + accepted + 1  # checked against the history before it is used

    def _learn(self, match: int, right: int, wrong: int) -> None:
        self._right[match] = MEMORY * self._right[match] + right
        self._wrong[match] = MEMORY * self._wrong[match] + wrong
