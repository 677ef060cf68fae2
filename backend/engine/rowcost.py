"""What one more row adds to a decode step on this machine, measured by the batch loop as it decodes.

Prompt lookup's drafts pay only when a draft row is cheap beside the step it joins: on a GPU an extra row
is nearly free, on a CPU it can cost most of a step, and how much depends on the machine (a faster CPU
gains less from batching: llama-server's own four-stream gain is 1.14× on one 2-core machine and 1.5× on
a slower one). The loop times every step that decodes only answers' tokens (no prompt). A step's time
also holds whatever else the machine did meanwhile (a server reading a new request, another process),
so each number of rows keeps the fastest time it has seen lately: that fastest time drifts up a little at
every step of its size, so it follows the context as it deepens and forgets a spell when the machine was
quicker. The drafting policy asks what steps of n rows cost, in one-row steps: the measured time where
a step of that size has been seen, else a step of fewer rows plus `share` (the mean share of a further
row over the sizes seen; PRIOR until a one-row step and a larger one have both been seen) for each row
more. A size seldom seen has a floor that is not yet low, so it looks dear and is tried less: the policy
errs towards drafting less.

A lone answer's steps are never timed for its policy: its drafts change how llama.cpp rounds its logits,
so drafting by timings would let the same seeded request give another answer on another run. It drafts by
LONE, a fixed table of what steps of one, two and more rows cost on a CPU: a step of two rows leaves
llama.cpp's one-row kernels and costs about two of one (6.3 against 13.1 ms for SmolLM2 on a 2-core
EPYC), each row after that about 0.4 of one. Where a row is cheaper than that, lone answers draft less
than they could, never more than pays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

PRIOR = 0.6  # a row's share of a one-row step before any is measured (a CPU's, from llama-server's gain)
FEWEST, MOST = 0.02, 1.0  # a row never counts as free, nor as dearer than a step of its own
DRIFT = 0.01  # how much the fastest time of a size rises at every step of that size
WIDEST = 16  # steps of more rows count with this many
LONE_SECOND, LONE_FURTHER = 1.0, 0.4  # a lone answer's first draft row, and each one after it


@cache
def lone_costs(most: int) -> tuple[int, ...]:
    """A lone answer's steps of 1 + k rows for k = 0..most, in hundredths of a one-row step (LONE)."""
    second, further = round(100 * LONE_SECOND), round(100 * LONE_FURTHER)
    return tuple(100 if k == 0 else 100 + second + further * (k - 1) for k in range(most + 1))


@cache
def linear_costs(sharing: int, most: int, row_cost: int) -> tuple[int, ...]:
    """Steps of sharing + k rows for k = 0..most, in hundredths of a one-row step, each row costing row_cost."""
    return tuple(100 + row_cost * (sharing + k - 1) for k in range(most + 1))


@dataclass
class RowCost:
    pinned: bool = False  # keep to PRIOR whatever is observed (the tests that need drafts to happen set it)
    fastest: dict[int, float] = field(default_factory=dict)  # rows -> the fastest recent step of that size, s

    @property
    def single(self) -> float:
        """The fastest recent one-row step (0: none seen yet)."""
        return self.fastest.get(1, 0.0)

    @property
    def share(self) -> float:
        """One more row, as a share of a one-row step: the mean over the sizes seen, else PRIOR."""
        single = self.single
        shares = [(time - single) / (size - 1) / single for size, time in self.fastest.items()
                  if size > 1] if single else []
        if not shares:
            return PRIOR
        return min(MOST, max(FEWEST, sum(shares) / len(shares)))

    def observe(self, rows: int, seconds: float) -> None:
        """A step of `rows` answer rows (sampled tokens and drafts, no prompt) took `seconds`."""
        if self.pinned or rows < 1 or seconds <= 0:
            return
        rows = min(rows, WIDEST)
        seen = self.fastest.get(rows)
        self.fastest[rows] = seconds if seen is None else min(seen * (1 + DRIFT), seconds)

    def steps(self, sharing: int, most: int) -> tuple[int, ...]:
        """What steps of sharing + k rows cost for k = 0..most, in hundredths of a one-row step; never less
        for more rows."""
        single, row = self.single, round(100 * self.share)
        if not single:
            return linear_costs(sharing, most, row)
        costs: list[int] = []
        for rows in range(sharing, sharing + most + 1):
            seen = self.fastest.get(min(rows, WIDEST))
            cost = round(100 * seen / single) if seen is not None else \
                (costs[-1] if costs else 100 + row * (rows - 2)) + row
            costs.append(max(cost, costs[-1] + round(100 * FEWEST)) if costs else cost)
        return tuple(costs)
