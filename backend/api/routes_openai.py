"""OpenAI's API on the same backend: /v1/chat/completions, /v1/completions, /v1/models, /v1/embeddings."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

from ember.backend.api import convert
from ember.backend.api.deps import backend_of
from ember.backend.api.routes_ollama import embed_texts
from ember.backend.api.streaming import (
    chunks_of,
    first_and_rest,
    interleaved,
    sse_response,
    until_disconnected,
)
from ember.backend.asyncbridge import closing
from ember.backend.errors import InvalidRequest
from ember.backend.prompt.toolcalls import call_schema
from ember.backend.service import Backend
from ember.backend.types import (
    ChatRequest,
    Chunk,
    GenerateRequest,
    Message,
    PromptLogprobs,
    Timings,
    TokenLogprob,
)
from ember.backend.wire import openai
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

router = APIRouter(prefix="/v1", tags=["openai"])
MOST_ANSWERS = 64  # prompts × n of one legacy completions request
R = TypeVar("R", ChatRequest, GenerateRequest)
STREAMED: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}, "description": "server-sent events when stream is true"}}


def _options(body: openai.Sampling, max_tokens: int | None = None) -> dict[str, Any]:
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    values = {"num_predict": max_tokens if max_tokens is not None else body.max_tokens,
              "temperature": body.temperature, "top_p": body.top_p, "seed": body.seed, "stop": stop,
              "frequency_penalty": body.frequency_penalty, "presence_penalty": body.presence_penalty}
    return {k: v for k, v in values.items() if v is not None}


def _content(content: str | list[openai.ContentPart] | None) -> tuple[str, list[str]]:
    """The text and the images (base64) of a message's content."""
    if content is None or isinstance(content, str):
        return content or "", []
    texts, images = [], []
    for part in content:
        if part.type == "text":
            texts.append(part.text)
        elif part.type == "image_url" and part.image_url is not None:
            url = part.image_url if isinstance(part.image_url, str) else part.image_url.url
            images.append(convert.data_url_base64(url, "an image_url"))
        else:
            raise InvalidRequest(f"content parts of type {part.type!r} are not supported: send text and image_url "
                                 "parts")
    return "".join(texts), images


def _message(m: openai.OAIMessage) -> Message:
    calls = []
    for call in m.tool_calls or []:
        try:
            arguments = json.loads(call.function.arguments or "{}")
        except ValueError:
            raise InvalidRequest(f"the arguments of tool call {call.function.name!r} are not JSON") from None
        calls.append({"function": {"name": call.function.name, "arguments": arguments}})
    role = "system" if m.role == "developer" else m.role
    text, images = _content(m.content)
    return Message(role, text, images=images, tool_calls=calls, tool_name=m.name or "", thinking=m.reasoning or "")


# OpenAI's efforts onto Ollama's think levels; "none" turns thinking off
EFFORTS: dict[str, bool | str] = {"none": False, "minimal": "low", "low": "low", "medium": "medium",
                                  "high": "high", "xhigh": "high", "max": "high"}


def _logprobs(chunk: Chunk) -> list[dict[str, Any]]:
    """OpenAI's `logprobs.content` entries for a chunk's tokens."""
    return [{"token": lp.token, "logprob": lp.logprob, "bytes": lp.bytes,
             "top_logprobs": [{"token": t.token, "logprob": t.logprob, "bytes": t.bytes} for t in lp.top_logprobs]}
            for lp in chunk.logprobs]


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


def _format(body: openai.OAIChatRequest) -> str | dict[str, Any] | None:
    rf = body.response_format
    if rf is None or rf.type == "text":
        return None
    if rf.type == "json_object":
        return "json"
    if rf.json_schema is None or not rf.json_schema.schema_:
        raise InvalidRequest("response_format json_schema needs json_schema.schema")
    return rf.json_schema.schema_


def _tools(body: openai.OAIChatRequest) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None]:
    """The tools offered, and the answer's schema when `tool_choice` forces a call."""
    choice = body.tool_choice
    if not body.tools or choice == "none":
        return None, None
    tools = [t.model_dump() for t in body.tools]
    if choice == "required":
        return tools, call_schema(tools)
    if isinstance(choice, openai.NamedToolChoice):
        return tools, call_schema(tools, choice.function.name)
    return tools, None


def _finish(last: Chunk, calls: list[dict[str, Any]]) -> str:
    return openai.finish_reason(last.done_reason, bool(calls))


def _usage(lasts: list[Chunk], n: int = 1) -> dict[str, Any]:
    """Usage of the answers to one or more prompts, `n` answers each in order: each prompt's tokens counted
    once, every answer's tokens."""
    prompt = [last.timings or Timings() for last in lasts[::n]]
    answered = sum((last.timings or Timings()).eval_count for last in lasts)
    asked = sum(t.prompt_eval_count for t in prompt)
    return {"prompt_tokens": asked, "completion_tokens": answered, "total_tokens": asked + answered,
            "prompt_tokens_details": {"cached_tokens": sum(t.prompt_eval_cached_count for t in prompt)}}


def _tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": f"call_{secrets.token_hex(4)}", "index": i, "type": "function",
             "function": {"name": c["function"]["name"], "arguments": json.dumps(c["function"]["arguments"])}}
            for i, c in enumerate(calls)]


def _envelope(kind: str, model: str, ident: str) -> dict[str, Any]:
    return {"id": ident, "object": kind, "created": int(time.time()), "model": model,
            "system_fingerprint": "fp_ember"}


@router.post("/chat/completions", response_model=openai.OAIChatCompletion,
             responses={200: {**STREAMED[200], "description": "OAIChatCompletionChunk events when stream is true"}})
async def chat_completions(body: openai.OAIChatRequest, request: Request,
                           backend: Backend = Depends(backend_of)) -> Response:
    tools, forced = _tools(body)
    chat = ChatRequest(model=body.model, messages=[_message(m) for m in body.messages],
                       options=_options(body, body.max_completion_tokens or body.max_tokens),
                       format=forced or _format(body), tools=tools,
                       think=EFFORTS[body.reasoning_effort] if body.reasoning_effort else None,
                       logprobs=bool(body.logprobs), top_logprobs=body.top_logprobs or 0)
    starts = await _started(request, [backend.chat(c) for c in _choices(chat, body.n)])
    ident = f"chatcmpl-{secrets.token_hex(6)}"
    if body.stream:
        usage = body.stream_options is not None and body.stream_options.include_usage
        return sse_response(_chat_events(body.model, ident, starts, usage, bool(body.logprobs)))
    answers = await until_disconnected(request, asyncio.gather(*(convert.collect_answer(*s) for s in starts)))
    choices = []
    for index, answer in enumerate(answers):
        message: dict[str, Any] = {"role": "assistant", "content": answer.text}
        if answer.thinking:
            message["reasoning"] = answer.thinking
        if answer.tool_calls:
            message["tool_calls"] = _tool_calls(answer.tool_calls)
        choices.append({"index": index, "message": message, "finish_reason": _finish(answer, answer.tool_calls),
                        "logprobs": {"content": _logprobs(answer)} if body.logprobs else None})
    return JSONResponse({**_envelope("chat.completion", body.model, ident), "choices": choices,
                         "usage": _usage(answers, len(answers))})


def _choices(asked: R, n: int) -> list[R]:
    """`n` requests for the same messages or prompt; with a seed, each choice its own (seed, seed + 1, …)
    so they differ and each repeats."""
    seed = (asked.options or {}).get("seed")
    return [asked if i == 0 or seed is None else replace(asked, options={**(asked.options or {}), "seed": seed + i})
            for i in range(n)]


async def _started(request: Request, streams: list[AsyncIterator[Chunk]]) -> list[tuple[Chunk, AsyncIterator[Chunk]]]:
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


def _chat_events(model: str, ident: str, starts: list[tuple[Chunk, AsyncIterator[Chunk]]],
                 include_usage: bool, logprobs: bool) -> AsyncIterator[dict[str, Any]]:
    finals: dict[int, Chunk] = {}
    choices = [_choice_events(model, ident, index, first, rest, logprobs, finals)
               for index, (first, rest) in enumerate(starts)]
    return _side_by_side(choices, finals, _envelope("chat.completion.chunk", model, ident) if include_usage
                         else None, len(starts))


async def _side_by_side(choices: list[AsyncIterator[dict[str, Any]]], finals: dict[int, Chunk],
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
        yield {**usage, "choices": [], "usage": _usage([finals[i] for i in range(len(choices))], n)}


async def _choice_events(model: str, ident: str, index: int, first: Chunk, rest: AsyncIterator[Chunk],
                         logprobs: bool, finals: dict[int, Chunk]) -> AsyncIterator[dict[str, Any]]:
    """One choice's chunks; its last chunk goes into `finals`, for the usage."""
    calls: list[dict[str, Any]] = []
    role_sent = False
    async with closing(rest):
        async for chunk in chunks_of(first, rest):
            delta: dict[str, Any] = {} if role_sent else {"role": "assistant"}
            role_sent = True
            if chunk.thinking:
                delta["reasoning"] = chunk.thinking
            if chunk.text:
                delta["content"] = chunk.text
            if chunk.tool_calls:
                delta["tool_calls"] = _tool_calls(chunk.tool_calls)
                calls.extend(chunk.tool_calls)
            scores = {"content": _logprobs(chunk)} if logprobs and chunk.logprobs else None
            if delta or scores:
                yield {**_envelope("chat.completion.chunk", model, ident),
                       "choices": [{"index": index, "delta": delta, "logprobs": scores, "finish_reason": None}]}
            if chunk.done:
                finals[index] = chunk
                yield {**_envelope("chat.completion.chunk", model, ident),
                       "choices": [{"index": index, "delta": {}, "finish_reason": _finish(chunk, calls)}]}


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
                           raw=body.echo or tokens is not None, suffix=body.suffix or "", options=_options(body),
                           logprobs=scored, top_logprobs=body.logprobs or 0,
                           score_prompt=body.echo and (scored or tokens is not None))


def _prompts(body: openai.OAICompletionRequest) -> list[str | list[int]]:
    prompt = body.prompt
    if isinstance(prompt, str):
        return [prompt]
    if prompt and all(isinstance(p, int) for p in prompt):
        return [cast(list[int], prompt)]
    return cast(list[str | list[int]], prompt)


@router.post("/completions", response_model=openai.OAICompletion, responses=STREAMED)
async def completions(body: openai.OAICompletionRequest, request: Request,
                      backend: Backend = Depends(backend_of)) -> Response:
    prompts = _prompts(body)
    if not prompts or len(prompts) * body.n > MOST_ANSWERS:
        raise InvalidRequest(f"{len(prompts)} prompts × n {body.n} asks for {len(prompts) * body.n} answers; ember "
                             f"gives 1 to {MOST_ANSWERS} per request")
    scored = body.logprobs is not None
    echoes = [_Echo(body.echo, scored, prompt if isinstance(prompt, str) else None)
              for prompt in prompts for _ in range(body.n)]
    asked = [choice for prompt in prompts for choice in _choices(_asked(body, prompt), body.n)]
    starts = await _started(request, [backend.generate(g) for g in asked])
    ident = f"cmpl-{secrets.token_hex(6)}"
    if body.stream:
        usage = body.stream_options is not None and body.stream_options.include_usage
        return sse_response(_completion_events(body.model, ident, starts, usage, echoes, body.n))
    answers = await until_disconnected(request, asyncio.gather(*(convert.collect_answer(*s) for s in starts)))
    return JSONResponse({**_envelope("text_completion", body.model, ident),
                         "choices": [{**_whole(answer, echo), "index": index, "finish_reason": _finish(answer, [])}
                                     for index, (answer, echo) in enumerate(zip(answers, echoes, strict=True))],
                         "usage": _usage(answers, body.n)})


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
    return _side_by_side(choices, finals, _envelope("text_completion", model, ident) if include_usage else None, n)


async def _completion_choice(model: str, ident: str, index: int, first: Chunk, rest: AsyncIterator[Chunk],
                             echo: _Echo, finals: dict[int, Chunk]) -> AsyncIterator[dict[str, Any]]:
    def event(text: str, logprobs: dict[str, Any] | None, finish: str | None = None) -> dict[str, Any]:
        return {**_envelope("text_completion", model, ident),
                "choices": [{"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish}]}

    offset = 0
    if echo.echo and echo.text is not None and not echo.scored:  # nothing to wait for: the prompt as sent
        yield event(echo.text, None)
        offset = len(echo.text)
    async with closing(rest):
        async for chunk in chunks_of(first, rest):
            if chunk.prompt_logprobs is not None:  # the scored prompt, ahead of the answer
                head = echo.text if echo.text is not None else _prompt_text(chunk.prompt_logprobs)
                yield event(head, _echoed_logprobs(chunk.prompt_logprobs, [], len(head)) if echo.scored else None)
                offset = len(head)
                continue
            finish = _finish(chunk, []) if chunk.done else None
            yield event(chunk.text, _completion_logprobs(chunk.logprobs, offset) if echo.scored else None, finish)
            offset += len(chunk.text)
            if chunk.done:
                finals[index] = chunk
                return


def _base64(vector: list[float]) -> str:
    """OpenAI's compact encoding: little-endian float32s in base64."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


@router.get("/models", response_model=openai.OAIModelList, response_model_exclude_unset=True)
async def models(backend: Backend = Depends(backend_of)) -> dict:
    return {"object": "list", "data": [{"id": m.name, "object": "model", "created": int(m.modified_at),
                                        "owned_by": "library"} for m in await backend.list_models()]}


@router.get("/models/{model:path}", response_model=openai.OAIModel, response_model_exclude_unset=True)
async def model(model: str, backend: Backend = Depends(backend_of)) -> dict:
    info = await backend.show(model)
    return {"id": info.name, "object": "model", "created": int(info.modified_at), "owned_by": "library"}


@router.post("/embeddings", response_model=openai.OAIEmbeddingList, response_model_exclude_unset=True)
async def embeddings(body: openai.OAIEmbeddingRequest, request: Request,
                     backend: Backend = Depends(backend_of)) -> dict:
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or any(not t for t in texts):
        raise InvalidRequest("input must be a non-empty text or a list of non-empty texts")
    result = await until_disconnected(request, embed_texts(backend, body.model, texts, True, None, body.dimensions))
    encode = _base64 if body.encoding_format == "base64" else (lambda v: v)
    return {"object": "list", "model": body.model,
            "data": [{"object": "embedding", "embedding": encode(v), "index": i} for i, v in enumerate(result.vectors)],
            "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}}
