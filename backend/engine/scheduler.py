"""Scheduler: which models are resident, for how long, and who may use each one now.

A runner that batches requests itself (`concurrent = True`, the llama.cpp Runner) is shared by
every request at once; any other runner is held by one request at a time. Keep-alive timers
unload idle models; when more than `max_loaded` would be resident, or when the machine's free
memory would not hold the next model, the least recently used idle ones go first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from ember.backend.errors import InvalidRequest

FOREVER = -1.0
R = TypeVar("R")  # what a model is loaded as: a Runner, an Embedder


def parse_keep_alive(value: str | float | int | None, default: float) -> float:
    """Seconds to keep a model loaded: "5m", "1h30m", "90s", 300, 0 (unload now), -1 (forever)."""
    if value is None or value == "":
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return FOREVER if value < 0 else float(value)
    text = str(value).strip().lower()
    try:
        number = float(text)
        return FOREVER if number < 0 else number
    except ValueError:
        pass
    if text.startswith("-"):
        return FOREVER
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total, digits, i = 0.0, "", 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            digits += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not digits:
            raise InvalidRequest(f'keep_alive "{value}" is not a duration; use e.g. "5m", "1h", 300, 0 or -1')
        total += float(digits) * units[unit]
        digits = ""
        i += len(unit)
    if digits:
        raise InvalidRequest(f'keep_alive "{value}" needs a unit, e.g. "{digits}s"')
    return total


@dataclass(frozen=True)
class ModelKey:
    """What makes two loads the same: the weights, the adapters on them and the vision projector."""

    model: Path
    adapters: tuple[Path, ...] = ()
    projector: Path | None = None


@dataclass
class Resident(Generic[R]):
    key: ModelKey
    name: str
    runner: R
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)
    expires_at: float = 0.0  # unix time; 0 = never
    timer: threading.Timer | None = None
    unload_requested: bool = False


class Scheduler(Generic[R]):
    def __init__(self, load: Callable[[ModelKey], R], *, max_loaded: int = 3,
                 keep_alive: float = 300.0, need: Callable[[ModelKey], int] | None = None,
                 available: Callable[[], int] | None = None) -> None:
        """`need(key)` estimates a model's bytes and `available()` the machine's free bytes; with
        both, idle models are unloaded (least recently used first) until the next one fits."""
        self._load = load
        self._need = need
        self._available = available
        self.max_loaded = max(1, max_loaded)
        self.keep_alive = keep_alive
        self._residents: dict[ModelKey, Resident[R]] = {}
        self._guard = threading.Lock()
        self._loading: dict[ModelKey, threading.Lock] = {}

    @contextmanager
    def use(self, key: ModelKey, name: str, keep_alive: float | None = None,
            load: Callable[[], R] | None = None) -> Iterator[tuple[R, int]]:
        """Use `key`'s runner (exclusively unless it is concurrent); yields (runner, ns spent loading it now).

        `load` loads it, if it is not resident, the way this request asks (e.g. its context size);
        without it the scheduler's own `load(key)` does.
        """
        resident, load_ns = self._get_or_load(key, name, load or (lambda: self._load(key)))
        try:
            if getattr(resident.runner, "concurrent", False):
                yield resident.runner, load_ns
            else:
                with resident.lock:
                    yield resident.runner, load_ns
        finally:
            self._release(resident, self.keep_alive if keep_alive is None else keep_alive)

    def _get_or_load(self, key: ModelKey, name: str, load: Callable[[], R]) -> tuple[Resident[R], int]:
        with self._guard:
            resident = self._residents.get(key)
            if resident is not None:
                resident.name = name  # runners are shared by models with the same weights
                self._claim(resident)
                return resident, 0
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one load per model, even when several requests arrive together
            with self._guard:
                resident = self._residents.get(key)
                if resident is not None:
                    resident.name = name  # runners are shared by models with the same weights
                    self._claim(resident)
                    return resident, 0
            self._make_room(key)
            start = time.perf_counter_ns()
            runner = load()
            load_ns = time.perf_counter_ns() - start
            with self._guard:
                resident = Resident(key, name, runner)
                self._residents[key] = resident
                self._claim(resident)
                self._evict_over_limit()
                self._loading.pop(key, None)
            return resident, load_ns

    def _make_room(self, key: ModelKey) -> None:
        if self._need is None or self._available is None:
            return
        need = self._need(key)
        while need > self._available():
            with self._guard:
                idle = sorted((r for r in self._residents.values() if r.users == 0), key=lambda r: r.last_used)
                if not idle:
                    return  # nothing to give back: try anyway, llama.cpp reports what fails
                self._unload_locked(idle[0].key)

    def _claim(self, resident: Resident[R]) -> None:
        resident.users += 1
        resident.last_used = time.monotonic()
        if resident.timer is not None:
            resident.timer.cancel()
            resident.timer = None

    def _release(self, resident: Resident[R], keep_alive: float) -> None:
        with self._guard:
            resident.users -= 1
            resident.last_used = time.monotonic()
            if resident.users > 0:
                return
            if resident.unload_requested:
                self._unload_locked(resident.key)
            elif keep_alive == FOREVER:
                resident.expires_at = 0.0
            elif keep_alive <= 0:
                self._unload_locked(resident.key)
            else:
                resident.expires_at = time.time() + keep_alive
                resident.timer = threading.Timer(keep_alive, self._expire, (resident,))
                resident.timer.daemon = True
                resident.timer.start()
            self._evict_over_limit()  # models loaded while this one was busy may exceed the limit

    def _expire(self, resident: Resident[R]) -> None:
        with self._guard:
            if resident.users == 0 and self._residents.get(resident.key) is resident:
                self._unload_locked(resident.key)

    def _evict_over_limit(self) -> None:
        idle = sorted((r for r in self._residents.values() if r.users == 0), key=lambda r: r.last_used)
        while len(self._residents) > self.max_loaded and idle:
            self._unload_locked(idle.pop(0).key)

    def _unload_locked(self, key: ModelKey) -> None:
        resident = self._residents.pop(key, None)
        if resident is None:
            return
        if resident.timer is not None:
            resident.timer.cancel()
        close = getattr(resident.runner, "close", None)
        if close:
            with resident.lock:
                close()

    def unload(self, key: ModelKey) -> bool:
        """Unload now if idle, else as soon as the current request ends."""
        with self._guard:
            resident = self._residents.get(key)
            if resident is None:
                return False
            if resident.users == 0:
                self._unload_locked(key)
            else:
                resident.unload_requested = True
            return True

    def residents(self) -> list[Resident[R]]:
        with self._guard:
            return list(self._residents.values())

    def unload_all(self) -> None:
        with self._guard:
            for key in list(self._residents):
                self._unload_locked(key)
