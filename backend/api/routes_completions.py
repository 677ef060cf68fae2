"""OpenAI's legacy /v1/completions: text or token-id prompts, several at once, `n` answers each, and `echo`:
the prompt before its answer, scored with `logprobs` (backend.engine.promptscores)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

from ember.backend.api import convert
from ember.backend.api import openai_choices as shared
from ember.backend.api.deps import backend_of
from ember.backend.api.streaming import chunks_of, sse_response, until_disconnected
from ember.backend.asyncbridge import closing
from ember.backend.errors import InvalidRequest
from ember.backend.service import Backend
from ember.backend.types import Chunk, GenerateRequest, PromptLogprobs, TokenLogprob
from ember.backend.wire import openai
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

router = APIRouter(prefix="/v1", tags=["openai"])


MOST_ANSWERS = 64  # prompts × n of one legacy completions request


def _completion_logprobs(scores: list[TokenLogprob], offset: int) -> dict[str, Any]:
    """The legacy completions shape: parallel lists, alternatives as {token: logprob}."""
    offsets = []
    for lp in scores:
        offsets.append(offset)
        offset += len(lp.token)
    return {"tokens": [lp.token for lp in scores], "token_logprobs": [lp.logprob for lp in scores],
            "top_logprobs": [{t.token: t.logprob for t in lp.top_logprobs} for lp in scores],
            "text_offset": offsets}


def _echoed_logprobs(prompt: PromptLogprobs, answer: list[TokenLogprob], answer_offset: int) -> dict[str, Any]:
    """A scored prompt then its answer, in the legacy shape: the prompt's first token has no score."""
    scores = _completion_logprobs(prompt.rest, len(prompt.first))
    rest = _completion_logprobs(answer, answer_offset)
    return {"tokens": [prompt.first, *scores["tokens"], *rest["tokens"]],
            "token_logprobs": [None, *scores["token_logprobs"], *rest["token_logprobs"]],
            "top_logprobs": [None, *scores["top_logprobs"], *rest["top_logprobs"]],
            "text_offset": [0, *scores["text_offset"], *rest["text_offset"]]}


def _prompt_text(prompt: PromptLogprobs) -> str:
    """The text of a scored prompt, its tokens' bytes joined (a character may span two tokens)."""
    return bytes(prompt.first_bytes + [b for lp in prompt.rest for b in lp.bytes]).decode("utf-8", "replace")


@dataclass
class _Echo:
    """What comes back of one legacy completion's prompt: nothing, its text, or its text and scores."""

    echo: bool
    scored: bool  # the answer's tokens have logprobs
    text: str | None  # the prompt as sent, when it was text


def _asked(body: openai.OAICompletionRequest, prompt: str | list[int]) -> GenerateRequest:
    """A legacy completion's request: a prompt echoed or given as tokens is read raw (nothing to template)."""
    text, tokens = (prompt, None) if isinstance(prompt, str) else ("", prompt)
    if tokens is not None and not tokens:
        raise InvalidRequest("a prompt of token ids must hold at least one")
    scored = body.logprobs is not None
    return GenerateRequest(model=body.model, prompt=text, context=tokens,
                           raw=body.echo or tokens is not None, suffix=body.suffix or "",
                           options=shared.sampling_options(body),
                           logprobs=scored, top_logprobs=body.logprobs or 0,
                           score_prompt=body.echo and (scored or tokens is not None))


def _prompts(body: openai.OAICompletionRequest) -> list[str | list[int]]:
    prompt = body.prompt
    if isinstance(prompt, str):
        return [prompt]
    if prompt and all(isinstance(p, int) for p in prompt):
        return [cast(list[int], prompt)]
    return cast(list[str | list[int]], prompt)


@router.post("/completions", response_model=openai.OAICompletion, responses=shared.STREAMED)
async def completions(body: openai.OAICompletionRequest, request: Request,
                      backend: Backend = Depends(backend_of)) -> Response:
    prompts = _prompts(body)
    if not prompts or len(prompts) * body.n > MOST_ANSWERS:
        raise InvalidRequest(f"{len(prompts)} prompts × n {body.n} asks for {len(prompts) * body.n} answers; ember "
                             f"gives 1 to {MOST_ANSWERS} per request")
    scored = body.logprobs is not None
    echoes = [_Echo(body.echo, scored, prompt if isinstance(prompt, str) else None)
              for prompt in prompts for _ in range(body.n)]
    asked = [choice for prompt in prompts for choice in shared.choices_of(_asked(body, prompt), body.n)]
    starts = await shared.started(request, [backend.generate(g) for g in asked])
    ident = f"cmpl-{secrets.token_hex(6)}"
    if body.stream:
        usage = body.stream_options is not None and body.stream_options.include_usage
        return sse_response(_completion_events(body.model, ident, starts, usage, echoes, body.n))
    answers = await until_disconnected(request, asyncio.gather(*(convert.collect_answer(*s) for s in starts)))
    return JSONResponse({**shared.envelope("text_completion", body.model, ident),
                         "choices": [{**_whole(answer, echo), "index": index,
                                      "finish_reason": shared.finish_reason(answer, [])}
                                     for index, (answer, echo) in enumerate(zip(answers, echoes, strict=True))],
                         "usage": shared.usage_of(answers, body.n)})


def _whole(answer: Chunk, echo: _Echo) -> dict[str, Any]:
    """A whole answer's text and logprobs, its prompt's before them when echoed."""
    if not echo.echo:
        return {"text": answer.text, "logprobs": _completion_logprobs(answer.logprobs, 0) if echo.scored else None}
    prompt = answer.prompt_logprobs
    head = echo.text if echo.text is not None else _prompt_text(prompt) if prompt is not None else ""
    logprobs = None
    if echo.scored:
        logprobs = _echoed_logprobs(prompt, answer.logprobs, len(head)) if prompt is not None \
            else _completion_logprobs(answer.logprobs, len(head))
    return {"text": head + answer.text, "logprobs": logprobs}


def _completion_events(model: str, ident: str, starts: list[tuple[Chunk, AsyncIterator[Chunk]]],
                       include_usage: bool, echoes: list[_Echo], n: int) -> AsyncIterator[dict[str, Any]]:
    finals: dict[int, Chunk] = {}
    choices = [_completion_choice(model, ident, index, first, rest, echo, finals)
               for index, ((first, rest), echo) in enumerate(zip(starts, echoes, strict=True))]
    usage = shared.envelope("text_completion", model, ident) if include_usage else None
    return shared.side_by_side(choices, finals, usage, n)


async def _completion_choice(model: str, ident: str, index: int, first: Chunk, rest: AsyncIterator[Chunk],
                             echo: _Echo, finals: dict[int, Chunk]) -> AsyncIterator[dict[str, Any]]:
    def event(text: str, logprobs: dict[str, Any] | None, finish: str | None = None) -> dict[str, Any]:
        return {**shared.envelope("text_completion", model, ident),
                "choices": [{"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish}]}

    offset = 0
    async with closing(rest):
        if echo.echo and echo.text is not None and not echo.scored:  # nothing to wait for: the prompt as sent
            yield event(echo.text, None)
            offset = len(echo.text)
        async for chunk in chunks_of(first, rest):
            if chunk.prompt_logprobs is not None:  # the scored prompt, ahead of the answer
                head = echo.text if echo.text is not None else _prompt_text(chunk.prompt_logprobs)
                yield event(head, _echoed_logprobs(chunk.prompt_logprobs, [], len(head)) if echo.scored else None)
                offset = len(head)
                continue
            finish = shared.finish_reason(chunk, []) if chunk.done else None
            yield event(chunk.text, _completion_logprobs(chunk.logprobs, offset) if echo.scored else None, finish)
            offset += len(chunk.text)
            if chunk.done:
                finals[index] = chunk
                return

