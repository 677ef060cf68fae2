"""The state of one chat, outside any widget: model, persona, overrides, turns, and the request they make.

A persona applies client-side — its system prompt, MESSAGE turns and parameters go into each chat
request — so switching persona keeps the conversation, on a local or a remote backend alike.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from backend.parameters import PARAMETERS, coerce
from backend.types import ChatRequest, Message


@dataclass
class Turn:
    role: str
    content: str
    stored_id: int = 0  # its row in the history database


@dataclass(frozen=True)
class Setting:
    name: str
    value: object
    source: str  # "override", "persona", "model" or "default"
    help: str


@dataclass
class ChatSession:
    model: str
    persona: Any = None  # backend.personas.Persona
    model_parameters: dict[str, Any] = field(default_factory=dict)  # the model's own Modelfile PARAMETERs
    overrides: dict[str, object] = field(default_factory=dict)
    turns: list[Turn] = field(default_factory=list)
    conversation_id: int = 0
    keep_alive: str | None = None

    @property
    def persona_title(self) -> str:
        return self.persona.title if self.persona is not None else ""

    @property
    def persona_slug(self) -> str:
        return self.persona.slug if self.persona is not None else ""

    def persona_messages(self) -> list[Message]:
        if self.persona is None:
            return []
        head = [Message("system", self.persona.system)] if self.persona.system else []
        return head + [Message(m.role, m.content) for m in self.persona.messages]

    def options(self) -> dict[str, object]:
        persona = dict(self.persona.parameters) if self.persona is not None else {}
        return {**persona, **self.overrides}

    def request(self) -> ChatRequest:
        messages = self.persona_messages() + [Message(t.role, t.content) for t in self.turns]
        return ChatRequest(model=self.model, messages=messages, options=self.options(), keep_alive=self.keep_alive)

    def settings(self) -> list[Setting]:
        """Every parameter with its effective value and where that value comes from."""
        persona = dict(self.persona.parameters) if self.persona is not None else {}
        rows = []
        for name, param in PARAMETERS.items():
            for source, layer in (("override", self.overrides), ("persona", persona),
                                  ("model", self.model_parameters)):
                if name in layer:
                    rows.append(Setting(name, layer[name], source, param.help))
                    break
            else:
                rows.append(Setting(name, param.default, "default", param.help))
        return rows

    def value(self, name: str) -> object:
        return next(s.value for s in self.settings() if s.name == name)

    def set_override(self, name: str, text: str) -> object:
        """Validate `text` for parameter `name` and use it from the next turn; raises InvalidRequest."""
        value = parse_value(name, text)
        self.overrides[name] = value
        return value

    def drop_override(self, name: str) -> None:
        self.overrides.pop(name, None)


def parse_value(name: str, text: str) -> object:
    """A parameter value as typed in the panel: numbers as numbers, `stop` as comma-separated text."""
    param = PARAMETERS[name]
    if param.repeatable:
        return coerce(name, [part.strip() for part in text.split(",") if part.strip()])
    return coerce(name, text.strip())


def show_value(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def persona_modelfile(persona: Any, parameters: dict[str, object]) -> str:
    """The Modelfile that stores `persona` with `parameters`, its title and order kept as comments."""
    from backend.modelfile import render_modelfile

    modelfile = dataclasses.replace(persona.modelfile(), parameters=dict(parameters))
    return f"# title: {persona.title}\n# order: {persona.order}\n" + render_modelfile(modelfile)
