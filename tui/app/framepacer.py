"""How often streamed text is drawn: as often as a frame rate cap allows, and no more often than keeps
the app's own thread within a small share of one core.

On a small machine the model's threads use every core, so whatever the app draws is taken from the
decode speed; on a fast one the same budget still allows the full frame rate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class FramePacer:
    budget: float = 0.02  # the share of one core the app's thread may use while an answer streams
    fastest: float = 1 / 15  # seconds between frames at most this often
    slowest: float = 1.0  # and at least this often, however slow drawing is
    interval: float = 1 / 15
    due: float = field(default_factory=time.perf_counter)  # when the next frame is drawn (perf_counter)
    _cpu: float = field(default_factory=time.thread_time)

    def __post_init__(self) -> None:
        self.due += self.interval

    def next_interval(self) -> float:
        """Call on the drawing thread after each frame: the delay until the next one.

        The thread's CPU time since the last call (drawing, and whatever else ran on it) sets the
        interval that would keep it within the budget; the interval moves halfway there each frame.
        """
        cpu = time.thread_time()
        spent, self._cpu = cpu - self._cpu, cpu
        wanted = min(max(spent / self.budget, self.fastest), self.slowest)
        self.interval = (self.interval + wanted) / 2
        self.due = time.perf_counter() + self.interval
        return self.interval
