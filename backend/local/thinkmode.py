"""What a request's `think` means for one model: the template's switch, and how to split the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ember.backend.errors import InvalidRequest
from ember.backend.store.modelrecord import ModelRecord

if TYPE_CHECKING:
    from ember.backend.engine.thinking import Splitter

LEVELS = ("low", "medium", "high")


def resolve_think(record: ModelRecord, think: bool | str | None) -> bool | str | None:
    """The `think` value the template gets; a 400 for a model that cannot think or a level that is no level.

    Unset, a model that can think does (as in Ollama); one that cannot is left as it is.
    """
    if think is None:
        return True if record.thinks else None
    if think is False:
        return False
    if isinstance(think, str) and think not in LEVELS:
        raise InvalidRequest(f'think must be true, false, "low", "medium" or "high", not {think!r}')
    if not record.thinks:
        raise InvalidRequest(f'"{record.name.display()}" does not support thinking')
    if isinstance(think, str) and not record.think_levels:
        return True  # a model with an on/off switch thinks at its one level
    return think


def splitter_for(record: ModelRecord, prompt: str) -> Splitter | None:
    """How to find the thinking in this model's answer to `prompt`; None for a model that never thinks.

    A model that can think is split even when asked not to, so thinking never reaches the content.
    """
    if not record.thinks:
        return None
    from ember.backend.engine.thinking import OPEN_TAG, HarmonySplitter, ThinkTagSplitter

    if record.channels:
        return HarmonySplitter()
    return ThinkTagSplitter(opened=prompt.rstrip().endswith(OPEN_TAG))

