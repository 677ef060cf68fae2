"""One line under the prompt: model, persona, speed, and how much of the context is used."""

from __future__ import annotations

from dataclasses import dataclass

from textual.widgets import Static


@dataclass
class Status:
    model: str = ""
    persona: str = ""
    state: str = ""  # loading, thinking, answering, stopped, or an error
    tokens_per_second: float = 0.0
    context_used: int = 0
    num_ctx: int = 0

    def render(self) -> str:
        parts = [self.model or "no model", self.persona or "no persona"]
        if self.state:
            parts.append(self.state)
        if self.tokens_per_second:
            parts.append(f"{self.tokens_per_second:.1f} tok/s")
        if self.num_ctx:
            parts.append(f"ctx {self.context_used}/{self.num_ctx}")
        return " · ".join(parts)


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    """

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__("", **kwargs)
        self.status = Status()

    def show(self, **changes: object) -> None:
        for name, value in changes.items():
            setattr(self.status, name, value)
        self.update(self.status.render())
