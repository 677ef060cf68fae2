"""Anthropic's Messages API on the same backend: /v1/messages and /v1/messages/count_tokens.

What Claude Code and other agents speak (`ANTHROPIC_BASE_URL=http://localhost:11434`). Errors
leave in Anthropic's shape (the app picks it by path); a forced `tool_choice` constrains sampling
to a call of the tool, so even a small model makes it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

from ember.backend.api.convert import gather_answer
from ember.backend.api.deps import backend_of
from ember.backend.api.streaming import chunks_of, first_and_rest, named_sse_response, until_disconnected
from ember.backend.errors import EmberError, InvalidRequest
from ember.backend.prompt.toolcalls import call_schema
from ember.backend.service import Backend
from ember.backend.types import ChatRequest, Chunk, Message
from ember.backend.wire import anthropic
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

router = APIRouter(prefix="/v1", tags=["anthropic"])
STREAMED: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}, "description": "Anthropic's events when stream is true"}}


def _system(system: str | list[anthropic.TextBlock] | None) -> str:
    if system is None or isinstance(system, str):
        return system or ""
    return "\n\n".join(block.text for block in system)


def _image(block: anthropic.ImageBlock) -> str:
    if block.source.type != "base64":
        raise InvalidRequest("an image block's source must be base64 data: ember does not fetch image URLs")
    return block.source.data


def _result_text(block: anthropic.ToolResultBlock) -> tuple[str, list[str]]:
    if isinstance(block.content, str):
        text, images = block.content, []
    else:
        text = "\n\n".join(part.text for part in block.content if isinstance(part, anthropic.TextBlock))
        images = [_image(part) for part in block.content if isinstance(part, anthropic.ImageBlock)]
    return (f"Error: {text}" if block.is_error else text), images


def _messages(body: anthropic.CountTokensRequest) -> list[Message]:
    """Anthropic's turns as the backend's: tool results become `tool` turns named after their call."""
    system = _system(body.system)
    out = [Message("system", system)] if system else []
    tool_names: dict[str, str] = {}
    for turn in body.messages:
        if isinstance(turn.content, str):
            out.append(Message(turn.role, turn.content))
            continue
        texts: list[str] = []
        images: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in turn.content:
            if isinstance(block, anthropic.TextBlock):
                texts.append(block.text)
            elif isinstance(block, anthropic.ImageBlock):
                images.append(_image(block))
            elif isinstance(block, anthropic.ToolUseBlock):
                tool_names[block.id] = block.name
                calls.append({"function": {"name": block.name, "arguments": block.input}})
            elif isinstance(block, anthropic.ToolResultBlock):
                text, result_images = _result_text(block)
                out.append(Message("tool", text, images=result_images,
                                   tool_name=tool_names.get(block.tool_use_id, "")))
            # thinking blocks of earlier turns are the model's own notes: not sent back to it
        if texts or images or calls:
            out.append(Message(turn.role, "\n\n".join(texts), images=images, tool_calls=calls))
    return out


def _tools(body: anthropic.CountTokensRequest) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None]:
    """The tools in Ollama's shape, and the answer's schema when `tool_choice` forces a call."""
    choice = body.tool_choice
    if not body.tools or (choice is not None and choice.type == "none"):
        return None, None
    tools = []
    for tool in body.tools:
        if tool.input_schema is None:
            raise InvalidRequest(f'tool "{tool.name}" is a server tool ({tool.type or "no input_schema"}): '
                                 "ember runs client tools, each with an input_schema")
        tools.append({"type": "function", "function": {"name": tool.name, "description": tool.description,
                                                       "parameters": tool.input_schema}})
    if choice is None or choice.type == "auto":
        return tools, None
    if choice.type == "tool" and not choice.name:
        raise InvalidRequest('tool_choice of type "tool" needs the name of the tool')
    return tools, call_schema(tools, choice.name if choice.type == "tool" else None)


def _think(thinking: anthropic.ThinkingConfig | None) -> bool | None:
    return None if thinking is None else thinking.type != "disabled"


def _chat_request(body: anthropic.MessagesRequest) -> ChatRequest:
    if not body.messages:
        raise InvalidRequest("messages must hold at least one message")
    tools, forced = _tools(body)
    values = {"num_predict": body.max_tokens, "temperature": body.temperature, "top_p": body.top_p,
              "top_k": body.top_k, "stop": body.stop_sequences}
    output = body.output_config.format if body.output_config else None
    return ChatRequest(model=body.model, messages=_messages(body), tools=tools,
                       format=forced or (output.schema_ if output else None),
                       options={k: v for k, v in values.items() if v is not None}, think=_think(body.thinking))


def _stop_reason(last: Chunk, calls: list[dict[str, Any]]) -> tuple[anthropic.StopReason, str | None]:
    if calls:
        return "tool_use", None
    if cut := anthropic.cut_stop_reason(last.done_reason):
        return cut, None
    if last.stop_sequence:
        return "stop_sequence", last.stop_sequence
    return "end_turn", None


def _usage(last: Chunk) -> anthropic.Usage:
    timings = last.timings
    if timings is None:
        return anthropic.Usage(input_tokens=0, output_tokens=0)
    # Anthropic counts what was read from the cache beside the input, not in it
    return anthropic.Usage(input_tokens=timings.prompt_evaluated,
                           output_tokens=timings.eval_count, cache_read_input_tokens=timings.prompt_eval_cached_count)


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    function = call["function"]
    return {"type": "tool_use", "id": f"toolu_{secrets.token_hex(12)}", "name": function["name"],
            "input": function["arguments"]}


@router.post("/messages", response_model=anthropic.Message, responses=STREAMED)
async def messages(body: anthropic.MessagesRequest, request: Request,
                   backend: Backend = Depends(backend_of)) -> Response:
    first, rest = await first_and_rest(request, backend.chat(_chat_request(body)))
    ident = f"msg_{secrets.token_hex(12)}"
    if body.stream:
        return named_sse_response(_events(body.model, ident, chunks_of(first, rest)), _stream_error)
    answer = await until_disconnected(request, gather_answer(chunks_of(first, rest)))
    content: list[dict[str, Any]] = []
    if answer.thinking:
        content.append({"type": "thinking", "thinking": answer.thinking, "signature": ""})
    if answer.text or not answer.tool_calls:
        content.append({"type": "text", "text": answer.text})
    content += [_tool_use(call) for call in answer.tool_calls]
    stop_reason, stop_sequence = _stop_reason(answer.last, answer.tool_calls)
    message = anthropic.Message.model_validate({
        "id": ident, "model": body.model, "content": content, "stop_reason": stop_reason,
        "stop_sequence": stop_sequence, "usage": _usage(answer.last)})
    return JSONResponse(message.model_dump())


def _stream_error(exc: EmberError) -> dict[str, Any]:
    return anthropic.error(exc.status, str(exc))


async def _events(model: str, ident: str, chunks: AsyncIterator[Chunk]) -> AsyncIterator[dict[str, Any]]:
    """Anthropic's event sequence: message_start, ping, a start/deltas/stop per content block,
    message_delta (stop reason, usage), message_stop."""
    start = anthropic.Message(id=ident, model=model, content=[], usage=anthropic.Usage(input_tokens=0, output_tokens=0))
    yield {"type": "message_start", "message": start.model_dump()}
    yield {"type": "ping"}
    index, open_kind, calls = -1, "", []
    async for chunk in chunks:
        for kind, piece in (("thinking", chunk.thinking), ("text", chunk.text)):
            if not piece:
                continue
            if open_kind != kind:
                if open_kind:
                    yield {"type": "content_block_stop", "index": index}
                index, open_kind = index + 1, kind
                block = {"type": "thinking", "thinking": "", "signature": ""} if kind == "thinking" else \
                    {"type": "text", "text": ""}
                yield {"type": "content_block_start", "index": index, "content_block": block}
            yield {"type": "content_block_delta", "index": index,
                   "delta": {"type": f"{kind}_delta", kind: piece}}
        for call in chunk.tool_calls:
            if open_kind:
                yield {"type": "content_block_stop", "index": index}
            index, open_kind = index + 1, ""
            block = _tool_use(call)
            yield {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
            yield {"type": "content_block_delta", "index": index,
                   "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}}
            yield {"type": "content_block_stop", "index": index}
            calls.append(call)
        if chunk.done:
            if open_kind:
                yield {"type": "content_block_stop", "index": index}
            stop_reason, stop_sequence = _stop_reason(chunk, calls)
            yield {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                   "usage": _usage(chunk).model_dump()}
            yield {"type": "message_stop"}


@router.post("/messages/count_tokens", response_model=anthropic.CountTokensResponse)
async def count_tokens(body: anthropic.CountTokensRequest, request: Request,
                       backend: Backend = Depends(backend_of)) -> dict[str, int]:
    tools, _forced = _tools(body)
    chat = ChatRequest(model=body.model, messages=_messages(body), tools=tools)
    return {"input_tokens": await until_disconnected(request, backend.count_tokens(chat))}
