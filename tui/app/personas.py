"""The personas the app offers: the shipped ones and the user's, in their declared order."""

from __future__ import annotations

from typing import Any

from backend.errors import EmberError


def available_personas() -> tuple[list[Any], list[str]]:
    """The personas, and one line for each persona file that could not be read."""
    from backend.personas import load_personas

    problems: list[EmberError] = []
    try:
        personas = list(load_personas(problems=problems))
    except EmberError as exc:
        return [], [f"personas: {exc}"]
    return personas, [f"persona left out: {p}" for p in problems]
