"""How many threads llama.cpp should decode with now: all it was given while the rest of the machine is
idle, fewer while other processes keep its cores busy.

llama.cpp's CPU threads meet at a barrier after each operation of a step (hundreds a token), so a step goes
at the pace of its slowest thread. While another busy process takes one of the cores, every barrier waits
for the thread that lost its time slice: on a 2-core machine one background busy loop (at nice 19, from
another session, as a build in another terminal is) took SmolLM2 from 142 to 0.3 tokens/s with two
threads, where one thread went on at 87. So the batch loop reports how long its steps take, and every
LOOK_EVERY seconds this looks at how much of its cores the rest of the machine used (their busy time less
this process's own, from psutil; a virtual machine's stolen time counts as busy). When the others keep more
than IDLE of a core busy and this loop's latest steps were SLOW times slower than steps of as many rows at
that thread count were while the others were idle (or no such time is known yet), it decodes with the cores
the others leave; as soon as they are idle again it goes back to every core. Only the number of threads
changes: a step's result is the same with any count, but for flash attention over a long context (which
splits it by thread), so a seeded answer repeats on a quiet machine.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

LOOK_EVERY = 0.5  # seconds between looks at the rest of the machine
IDLE = 0.25  # cores the others may keep busy without it counting (a terminal, a clock, a client)
SLOW = 1.5  # a step this many times slower than on a quiet machine is a contended one
WIDEST = 8  # steps of more answer rows than this are timed as steps of this many
WINDOW = 2  # the latest steps: all of them slow is contention, one alone may be a hiccup
DRIFT = 0.01  # how much the quiet time of a thread count rises at each step (it follows the context's depth)


def usable_cpus() -> list[int]:
    """The CPUs this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows: every CPU
        return list(range(os.cpu_count() or 1))


def default_threads() -> int:
    """llama.cpp's threads when none are asked for: one a physical core this process may use (a second
    hardware thread of a core slows the barriers more than it adds)."""
    cpus = len(usable_cpus())
    return max(1, min(cpus, psutil.cpu_count(logical=False) or cpus))


@dataclass(frozen=True)
class CpuUse:
    """A reading of the clocks: wall time, busy seconds of the usable CPUs, this process's CPU seconds."""

    wall: float
    busy: float
    own: float


def read_cpu_use(cpus: list[int] | None = None) -> CpuUse:
    per_cpu = psutil.cpu_times(percpu=True)
    chosen = [per_cpu[i] for i in cpus if i < len(per_cpu)] if cpus else per_cpu
    busy = sum(t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
               + getattr(t, "steal", 0.0) for t in chosen)
    own = psutil.Process().cpu_times()
    return CpuUse(time.monotonic(), busy, own.user + own.system)


@dataclass
class ThreadShare:
    """The thread count for the next step, from the steps' times and the rest of the machine's CPU use."""

    most: int  # the threads it was given: used while the machine is otherwise idle
    cores: int = 0  # the CPUs it may run on (0: this process's)
    read: Callable[[], CpuUse] = field(default=read_cpu_use)
    clock: Callable[[], float] = field(default=time.monotonic)
    threads: int = 0
    others: float | None = None  # cores the rest of the machine kept busy at the last look (None: no look yet)
    quiet: dict[tuple[int, int], float] = field(default_factory=dict)  # (threads, rows) -> fastest recent
    # step of that shape while the others idled
    _recent: deque[float | None] = field(default_factory=lambda: deque(maxlen=WINDOW))  # the latest steps'
    # times over their shape's quiet time (None: that shape was never timed quiet)
    _last: CpuUse | None = None

    def __post_init__(self) -> None:
        self.cores = self.cores or len(usable_cpus())
        self.threads = self.threads or self.most

    def observe(self, seconds: float, rows: int = 1) -> int:
        """A step of `rows` answer rows took `seconds` at `threads`; the threads for the next step."""
        shape = (self.threads, max(1, min(rows, WIDEST)))
        seen = self.quiet.get(shape)
        if self.others is not None and self.others <= IDLE and seconds > 0:
            self.quiet[shape] = seen = seconds if seen is None else min(seen * (1 + DRIFT), seconds)
        self._recent.append(seconds / seen if seen else None)
        last = self._last
        if last is not None and self.clock() - last.wall < LOOK_EVERY:
            return self.threads
        now = self._last = self.read()
        if last is None or now.wall <= last.wall:
            return self.threads
        self.others = max(0.0, (now.busy - last.busy) - (now.own - last.own)) / (now.wall - last.wall)
        left = self.cores - math.ceil(max(0.0, self.others - IDLE))
        target = max(1, min(self.most, left))
        if target > self.threads or (target < self.threads and self._slow()):
            self.threads = target
            self._recent.clear()
        return self.threads

    def idle(self) -> None:
        """The loop waits for work: its next look measures from its next step."""
        self._last = None

    def _slow(self) -> bool:
        if not any(threads == self.threads for threads, _ in self.quiet):
            return True  # never seen quiet at this count: the others' use is all there is to go by
        if len(self._recent) < WINDOW:
            return False
        return all(ratio is None or ratio > SLOW for ratio in self._recent)
