"""Generation parameters as a chat sees them: each one's value and the layer it comes from."""

from __future__ import annotations

from dataclasses import dataclass

from ember.backend.parameters import PARAMETERS, coerce


@dataclass(frozen=True)
class Setting:
    name: str
    value: object
    source: str  # "override", "persona", "model", "config" (the backend's own default) or "default"
    help: str


def settings(overrides: dict[str, object], persona: dict[str, object],
             model: dict[str, object], configured: dict[str, object] | None = None) -> list[Setting]:
    """Every parameter with its effective value: an override beats the persona, which beats the model,
    which beats the backend's configured default (EMBER_CONTEXT_LENGTH)."""
    rows = []
    layers = (("override", overrides), ("persona", persona), ("model", model), ("config", configured or {}))
    for name, param in PARAMETERS.items():
        for source, layer in layers:
            if name in layer:
                rows.append(Setting(name, layer[name], source, param.help))
                break
        else:
            rows.append(Setting(name, param.default, "default", param.help))
    return rows


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
