"""One line under the prompt: model, persona, speed, and how much of the context is used."""

from __future__ import annotations

from dataclasses import dataclass

from textual.widgets import Static


@dataclass
class Status:
    model: str = ""
    endpoint: str = ""  # the remote the chat runs on; empty on the backend the app started with
    persona: str = ""
    state: str = ""  # loading, thinking, answering, stopped, or an error
    tokens_per_second: float = 0.0
    context_used: int = 0
    context_estimated: bool = False  # context_used is an estimate until an answer's count arrives
    num_ctx: int = 0
    serving: str = ""  # the URL the app serves the API on, when it does
    served_by: str = ""  # the `ember serve` running here that the chat uses ("ember serve 127.0.0.1:11434")
    first_token_ms: float = 0.0  # time to first token, when the answer's timings carry it (remotes)

    def render(self, width: int = 0) -> str:
        """The line; when `width` is too narrow, the least needed parts go first (first-token time,
        "no persona", the speed, the state), and the model's name is shortened last."""
        model = self.model or "no model"
        parts: list[tuple[int, str]] = [  # (how much it is needed, text)
            (9, f"{model} @ {self.endpoint}" if self.endpoint else model),
            (6 if self.persona else 2, self.persona or "no persona"),
        ]
        if self.state:
            parts.append((5, self.state))
        if self.tokens_per_second:
            parts.append((4, f"{self.tokens_per_second:.1f} tok/s"))
        if self.first_token_ms:
            parts.append((1, f"first token {self.first_token_ms:.0f} ms"))
        if self.num_ctx:
            parts.append((7, f"ctx {'~' if self.context_estimated else ''}{self.context_used}/{self.num_ctx}"))
        if self.serving:
            parts.append((3, f"API {self.serving.removeprefix('http://')}"))
        if self.served_by:
            parts.append((3, f"via {self.served_by}"))
        line = " · ".join(text for _, text in parts)
        while width and len(line) > width and len(parts) > 1:
            parts.remove(min(parts[1:], key=lambda part: part[0]))
            line = " · ".join(text for _, text in parts)
        return line if not width or len(line) <= width else line[: width - 1] + "…"


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.status = Status()

    def show(self, **changes: object) -> None:
        for name, value in changes.items():
            setattr(self.status, name, value)
        self.update(self.status.render(self.content_size.width), layout=False)  # one line whatever it says

    def on_resize(self) -> None:
        self.update(self.status.render(self.content_size.width), layout=False)
