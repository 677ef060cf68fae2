"""How many answers may be in progress at once: as many as the loaded models decode together, and up to
EMBER_MAX_QUEUE more waiting for a sequence or a model (Ollama's OLLAMA_MAX_QUEUE); one more is refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ember.backend.errors import ServerBusy


@dataclass
class Admission:
    decoding: int  # answers decoded at once: the sequences of every model that may be loaded
    waiting: int  # answers that may wait beyond those
    active: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place while an answer is in progress; ServerBusy when none is left."""
        with self._lock:
            if self.active >= self.decoding + self.waiting:
                raise ServerBusy(f"server busy: {self.active} answers are in progress, {self.waiting} of them may "
                                 "wait (EMBER_MAX_QUEUE) — try again shortly")
            self.active += 1
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1
