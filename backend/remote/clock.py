"""Timings of a remote answer: the server's own counts where it sends them, this machine's clock for the rest."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ember.backend.types import Timings


@dataclass
class RemoteTimings(Timings):
    """Timings plus what only the client sees: time to first token, and whether tokens were counted here."""

    time_to_first_token: int = 0  # ns from sending the request to the first piece of text
    counted_here: bool = False  # the server sent no usage: eval_count is the number of streamed pieces
    client_clock: bool = False  # eval_duration runs from the first token to the last, on this machine

    @property
    def eval_rate(self) -> float:
        if not self.client_clock:
            return super().eval_rate
        # the first token arrived at the end of time_to_first_token; the rest came in eval_duration
        return (self.eval_count - 1) / (self.eval_duration / 1e9) if self.eval_duration and self.eval_count > 1 else 0.0


class StreamClock:
    """Started when a request is sent; `text()` marks each piece of the answer as it arrives."""

    def __init__(self) -> None:
        self.start = time.perf_counter_ns()
        self.first = 0
        self.last = 0
        self.pieces = 0

    def text(self, piece: str) -> None:
        if not piece:
            return
        now = time.perf_counter_ns()
        self.first = self.first or now
        self.last = now
        self.pieces += 1

    @property
    def to_first(self) -> int:
        return self.first - self.start if self.first else 0

    def timings(self, prompt_tokens: int | None, completion_tokens: int | None) -> RemoteTimings:
        """From an OpenAI-compatible answer: usage counts where given, durations from this clock."""
        end = time.perf_counter_ns()
        counted_here = completion_tokens is None
        return RemoteTimings(
            total_duration=end - self.start,
            prompt_eval_count=prompt_tokens or 0,
            prompt_eval_duration=self.to_first,
            eval_count=self.pieces if counted_here else int(completion_tokens or 0),
            eval_duration=self.last - self.first if self.first else 0,
            time_to_first_token=self.to_first,
            counted_here=counted_here,
            client_clock=True,
        )

    def with_server(self, server: Timings) -> RemoteTimings:
        """An Ollama-compatible server's own timings, plus the time to first token seen here."""
        return RemoteTimings(**{k: getattr(server, k) for k in Timings.__dataclass_fields__},
                             time_to_first_token=self.to_first)
