"""How much of the context the conversation fills, for the status line: exact after each answer (the
prompt and answer tokens the backend counted), estimated from the text in between (after a message is
added, a conversation is opened), so it never shows a stale or empty figure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ember.backend.types import Message

CHARS_PER_TOKEN = 4  # a rough mean for English text and code in the usual tokenizers


def characters(messages: Sequence[Message]) -> int:
    return sum(len(m.content) for m in messages)


@dataclass
class ContextGauge:
    tokens: int = 0  # counted at the end of the last answer
    chars: int = 0  # the request's characters then

    def estimate(self, messages: Sequence[Message]) -> int:
        """Tokens the request `messages` fill: the last count plus an estimate of what was added since."""
        return self.tokens + max(0, characters(messages) - self.chars) // CHARS_PER_TOKEN

    def counted(self, tokens: int, messages: Sequence[Message]) -> None:
        self.tokens, self.chars = tokens, characters(messages)

    def reset(self) -> None:
        self.tokens = self.chars = 0
