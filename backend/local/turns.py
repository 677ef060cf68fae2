"""A chat or generate request as LocalBackend resolves it (a Turn), and the answer it starts (Started)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ember.backend.asyncbridge import run_blocking
from ember.backend.errors import InvalidRequest
from ember.backend.parameters import Options
from ember.backend.store.modelrecord import ModelRecord

if TYPE_CHECKING:
    from ember.backend.engine.runner import Runner
    from ember.backend.engine.slots import Request
    from ember.backend.engine.thinking import Splitter
    from ember.backend.engine.vision import MediaPrompt


@dataclass
class Turn:
    """One chat or generate request, resolved: its model, options, keep-alive and grammar, and how to
    tokenize its prompt with the loaded runner (None: the request only loads the model)."""

    record: ModelRecord
    options: Options
    keep_alive: float
    grammar: str | None
    tokens: Callable[[Runner, threading.Event], list[int]] | None = None
    top_logprobs: int = -1  # below 0: no logprobs asked for
    score_prompt: bool = False  # the prompt's own log probabilities too
    splitter: Splitter | None = None  # how the answer's thinking is told from its content (set when rendered)
    media: MediaPrompt | None = None  # the prompt's images, tokenized with the projector (set when rendered)


@dataclass
class Started:
    """A turn the batch loop is answering (`request` None: the model was only loaded)."""

    turn: Turn
    request: Request | None
    load_ns: int
    held: ExitStack  # the scheduler's hold on the model, let go when the answer ends
    total_ns: int = 0  # of a load alone


async def release(starting: asyncio.Future[Started]) -> None:
    """Let go of what a turn holds once its answer ends, however it ended."""
    try:
        started = await starting
    except BaseException:
        return  # the prologue failed and holds nothing
    if started.request is not None:
        started.request.abandoned = True  # a client that left frees its slot at the next step
    await run_blocking(started.held.close)


MAX_TOP_LOGPROBS = 20


def top_logprobs_for(logprobs: bool, top: int) -> int:
    """The runner's `top_logprobs`: -1 when no logprobs were asked for (the cheap path)."""
    if not 0 <= top <= MAX_TOP_LOGPROBS:
        raise InvalidRequest(f"top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}, got {top}")
    return top if logprobs else -1


def grammar_for(fmt: str | dict[str, Any] | None) -> str | None:
    """The llama.cpp grammar a request's `format` asks for ("json" or a JSON schema), or None."""
    if not fmt:
        return None
    from ember.backend.prompt.grammar import grammar_for_format

    return grammar_for_format(fmt)
