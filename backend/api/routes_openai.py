"""OpenAI's API on the same backend: /v1/chat/completions, /v1/models, /v1/embeddings (the legacy
/v1/completions: routes_completions)."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import struct
from collections.abc import AsyncIterator
from typing import Any

from ember.backend.api import convert
from ember.backend.api import openai_choices as shared
from ember.backend.api.deps import backend_of
from ember.backend.api.routes_ollama import embed_texts
from ember.backend.api.streaming import (
    chunks_of,
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
    Message,
)
from ember.backend.wire import openai
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

router = APIRouter(prefix="/v1", tags=["openai"])


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


def _tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": f"call_{secrets.token_hex(4)}", "index": i, "type": "function",
             "function": {"name": c["function"]["name"], "arguments": json.dumps(c["function"]["arguments"])}}
            for i, c in enumerate(calls)]


@router.post("/chat/completions", response_model=openai.OAIChatCompletion,
             responses={200: {**shared.STREAMED[200],
                              "description": "OAIChatCompletionChunk events when stream is true"}})
async def chat_completions(body: openai.OAIChatRequest, request: Request,
                           backend: Backend = Depends(backend_of)) -> Response:
    tools, forced = _tools(body)
    chat = ChatRequest(model=body.model, messages=[_message(m) for m in body.messages],
                       options=shared.sampling_options(body, body.max_completion_tokens or body.max_tokens),
                       format=forced or _format(body), tools=tools,
                       think=EFFORTS[body.reasoning_effort] if body.reasoning_effort else None,
                       logprobs=bool(body.logprobs), top_logprobs=body.top_logprobs or 0)
    starts = await shared.started(request, [backend.chat(c) for c in shared.choices_of(chat, body.n)])
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
        choices.append({"index": index, "message": message,
                        "finish_reason": shared.finish_reason(answer, answer.tool_calls),
                        "logprobs": {"content": _logprobs(answer)} if body.logprobs else None})
    return JSONResponse({**shared.envelope("chat.completion", body.model, ident), "choices": choices,
                         "usage": shared.usage_of(answers, len(answers))})


def _chat_events(model: str, ident: str, starts: list[tuple[Chunk, AsyncIterator[Chunk]]],
                 include_usage: bool, logprobs: bool) -> AsyncIterator[dict[str, Any]]:
    finals: dict[int, Chunk] = {}
    choices = [_choice_events(model, ident, index, first, rest, logprobs, finals)
               for index, (first, rest) in enumerate(starts)]
    return shared.side_by_side(choices, finals, shared.envelope("chat.completion.chunk", model, ident) if include_usage
                         else None, len(starts))


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
                yield {**shared.envelope("chat.completion.chunk", model, ident),
                       "choices": [{"index": index, "delta": delta, "logprobs": scores, "finish_reason": None}]}
            if chunk.done:
                finals[index] = chunk
                yield {**shared.envelope("chat.completion.chunk", model, ident),
                       "choices": [{"index": index, "delta": {}, "finish_reason": shared.finish_reason(chunk, calls)}]}


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
