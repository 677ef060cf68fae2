"""What OpenAI's chat and legacy completions share: a body's sampling options, its `n` choices started
side by side, their events interleaved, and the envelope, finish reason and usage of the answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, TypeVar, cast

from ember.backend.api.streaming import first_and_rest, interleaved
from ember.backend.asyncbridge import closing
from ember.backend.types import ChatRequest, Chunk, GenerateRequest, Timings
from ember.backend.wire import openai
from fastapi import Request

R = TypeVar("R", ChatRequest, GenerateRequest)
STREAMED: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}, "description": "server-sent events when stream is true"}}


def sampling_options(body: openai.Sampling, max_tokens: int | None = None) -> dict[str, Any]:
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    values = {"num_predict": max_tokens if max_tokens is not None else body.max_tokens,
              "temperature": body.temperature, "top_p": body.top_p, "seed": body.seed, "stop": stop,
              "frequency_penalty": body.frequency_penalty, "presence_penalty": body.presence_penalty}
    return {k: v for k, v in values.items() if v is not None}


def finish_reason(last: Chunk, calls: list[dict[str, Any]]) -> str:
    return openai.finish_reason(last.done_reason, bool(calls))


def usage_of(lasts: list[Chunk], n: int = 1) -> dict[str, Any]:
    """Usage of the answers to one or more prompts, `n` answers each in order: each prompt's tokens counted
    once, every answer's tokens."""
    prompt = [last.timings or Timings() for last in lasts[::n]]
    answered = sum((last.timings or Timings()).eval_count for last in lasts)
    asked = sum(t.prompt_eval_count for t in prompt)
    return {"prompt_tokens": asked, "completion_tokens": answered, "total_tokens": asked + answered,
            "prompt_tokens_details": {"cached_tokens": sum(t.prompt_eval_cached_count for t in prompt)}}


def envelope(kind: str, model: str, ident: str) -> dict[str, Any]:
    return {"id": ident, "object": kind, "created": int(time.time()), "model": model,
            "system_fingerprint": "fp_ember"}


def choices_of(asked: R, n: int) -> list[R]:
    """`n` requests for the same messages or prompt; with a seed, each choice its own (seed, seed + 1, …)
    so they differ and each repeats."""
    seed = (asked.options or {}).get("seed")
    return [asked if i == 0 or seed is None else replace(asked, options={**(asked.options or {}), "seed": seed + i})
            for i in range(n)]


async def started(request: Request, streams: list[AsyncIterator[Chunk]]) -> list[tuple[Chunk, AsyncIterator[Chunk]]]:
    """Each stream's first chunk, read side by side; if one fails, the others are stopped and it is raised."""
    if len(streams) == 1:
        return [await first_and_rest(request, streams[0])]
    results = await asyncio.gather(*(first_and_rest(request, s) for s in streams), return_exceptions=True)
    failure = next((r for r in results if isinstance(r, BaseException)), None)
    if failure is not None:
        for result in results:
            if not isinstance(result, BaseException):
                await result[1].aclose()  # type: ignore[attr-defined]
        raise failure
    return cast(list[tuple[Chunk, AsyncIterator[Chunk]]], results)


async def side_by_side(choices: list[AsyncIterator[dict[str, Any]]], finals: dict[int, Chunk],
                       usage: dict[str, Any] | None, n: int) -> AsyncIterator[dict[str, Any]]:
    """The events of every choice as they come (one choice: as they are, without a hand-off), then, with a
    `usage` envelope, one event of the usage of every choice's last chunk in `finals` (`n` answers a prompt)."""
    if len(choices) == 1:
        async with closing(choices[0]):
            async for event in choices[0]:
                yield event
    else:
        async with closing(interleaved(choices)) as events:
            async for _, event in events:
                yield event
    if usage is not None and len(finals) == len(choices):
        yield {**usage, "choices": [], "usage": usage_of([finals[i] for i in range(len(choices))], n)}

