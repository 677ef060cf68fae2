"""OpenAI's Responses API on the same backend: POST /v1/responses, stateless as Ollama's.

What Codex-style tools speak. The whole conversation comes with each request (`input` items:
messages, function calls and their outputs); nothing is stored, so `previous_response_id` is a
clear 400. A `tool_choice` that requires a call constrains sampling to one.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ember.backend.api.convert import data_url_base64, gather_answer
from ember.backend.api.deps import backend_of
from ember.backend.api.streaming import chunks_of, first_and_rest, named_sse_response, until_disconnected
from ember.backend.errors import EmberError, InvalidRequest
from ember.backend.prompt.toolcalls import call_schema
from ember.backend.service import Backend
from ember.backend.types import ChatRequest, Chunk, Message
from ember.backend.wire import responses as wire
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

router = APIRouter(prefix="/v1", tags=["openai"])
STREAMED: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}, "description": "Responses events when stream is true"}}
EFFORT: dict[str, bool | str] = {"none": False, "minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "high"}


def _image(part: wire.ImagePart) -> str:
    return data_url_base64(part.image_url or "", "an input_image")


def _content(content: str | list[Any]) -> tuple[str, list[str]]:
    if isinstance(content, str):
        return content, []
    texts = [p.text if isinstance(p, wire.TextPart) else p.refusal for p in content
             if isinstance(p, wire.TextPart | wire.RefusalPart)]
    return "\n\n".join(texts), [_image(p) for p in content if isinstance(p, wire.ImagePart)]


def _arguments(item: wire.FunctionCallItem) -> dict[str, Any]:
    try:
        arguments = json.loads(item.arguments or "{}")
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        raise InvalidRequest(f"the arguments of function call {item.call_id!r} ({item.name}) are not a JSON object")
    return arguments


def _messages(body: wire.ResponsesRequest) -> list[Message]:
    out = [Message("system", body.instructions)] if body.instructions else []
    if isinstance(body.input, str):
        return [*out, Message("user", body.input)]
    names: dict[str, str] = {}
    for item in body.input:
        if isinstance(item, wire.MessageItem):
            text, images = _content(item.content)
            out.append(Message("system" if item.role == "developer" else item.role, text, images=images))
        elif isinstance(item, wire.FunctionCallItem):
            names[item.call_id] = item.name
            call = {"function": {"name": item.name, "arguments": _arguments(item)}}
            if out and out[-1].role == "assistant" and not out[-1].tool_name:
                out[-1].tool_calls.append(call)  # parallel calls belong to one assistant turn
            else:
                out.append(Message("assistant", "", tool_calls=[call]))
        elif isinstance(item, wire.FunctionCallOutputItem):
            text, images = _content(item.output)
            out.append(Message("tool", text, images=images, tool_name=names.get(item.call_id, "")))
        elif isinstance(item, wire.ItemReference):
            raise InvalidRequest(f"input names the stored item {item.id!r}: ember keeps nothing between requests "
                                 "(stateless, as Ollama) — send the item itself")
        # reasoning items are the model's own notes: not sent back to it
    return out


def _tools(body: wire.ResponsesRequest) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None]:
    if not body.tools or body.tool_choice == "none":
        return None, None
    tools = []
    for tool in body.tools:
        if tool.type != "function":
            raise InvalidRequest(f'tools of type "{tool.type}" are not supported: ember runs function tools')
        if not tool.name:
            raise InvalidRequest("a function tool needs a name")
        tools.append({"type": "function", "function": {"name": tool.name, "description": tool.description or "",
                                                       "parameters": tool.parameters or {"type": "object"}}})
    choice = body.tool_choice
    if choice == "required":
        return tools, call_schema(tools)
    if isinstance(choice, wire.FunctionChoice):
        return tools, call_schema(tools, choice.name)
    return tools, None


def _format(body: wire.ResponsesRequest) -> str | dict[str, Any] | None:
    fmt = body.text.format if body.text else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return "json"
    if not fmt.schema_:
        raise InvalidRequest("text.format of type json_schema needs its schema")
    return fmt.schema_


def _chat_request(body: wire.ResponsesRequest) -> ChatRequest:
    if body.previous_response_id or body.conversation:
        raise InvalidRequest("ember keeps no responses (stateless, as Ollama): leave out previous_response_id "
                             "and conversation, and send the whole conversation in input")
    messages = _messages(body)
    if not any(m.role != "system" for m in messages):
        raise InvalidRequest("input must hold at least one message")
    tools, forced = _tools(body)
    effort = body.reasoning.effort if body.reasoning else None
    values = {"num_predict": body.max_output_tokens, "temperature": body.temperature, "top_p": body.top_p}
    return ChatRequest(model=body.model, messages=messages, tools=tools, format=forced or _format(body),
                       options={k: v for k, v in values.items() if v is not None},
                       think=EFFORT[effort] if effort else None)


def _ident(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _response(body: wire.ResponsesRequest, ident: str, status: wire.ResponseStatus, output: list[Any],
              last: Chunk | None = None) -> wire.Response:
    usage = None
    if last is not None and last.timings is not None:
        t = last.timings
        usage = wire.Usage(input_tokens=t.prompt_eval_count, output_tokens=t.eval_count,
                           total_tokens=t.prompt_eval_count + t.eval_count,
                           input_tokens_details=wire.InputTokensDetails(cached_tokens=t.prompt_eval_cached_count))
    choice = body.tool_choice
    return wire.Response(
        id=ident, created_at=int(time.time()), status=status, model=body.model, output=output,
        incomplete_details=wire.incomplete_details(last.done_reason) if last is not None else None,
        instructions=body.instructions, max_output_tokens=body.max_output_tokens, temperature=body.temperature,
        top_p=body.top_p, tools=[t.model_dump(exclude_none=True) for t in body.tools or []],
        tool_choice=choice.model_dump() if isinstance(choice, wire.FunctionChoice) else choice or "auto",
        parallel_tool_calls=body.parallel_tool_calls is not False,
        text=body.text.model_dump(by_alias=True, exclude_none=True) if body.text else {"format": {"type": "text"}},
        reasoning=body.reasoning.model_dump() if body.reasoning else None, metadata=body.metadata or {},
        usage=usage)


def _status(last: Chunk) -> wire.ItemStatus:
    return "incomplete" if wire.incomplete_details(last.done_reason) else "completed"


def _function_call(call: dict[str, Any]) -> wire.FunctionCall:
    function = call["function"]
    return wire.FunctionCall(id=_ident("fc"), call_id=f"call_{secrets.token_hex(8)}", name=function["name"],
                             arguments=json.dumps(function["arguments"]))


@router.post("/responses", response_model=wire.Response, responses=STREAMED)
async def responses(body: wire.ResponsesRequest, request: Request,
                    backend: Backend = Depends(backend_of)) -> Response:
    first, rest = await first_and_rest(request, backend.chat(_chat_request(body)))
    ident = _ident("resp")
    if body.stream:
        return named_sse_response(_numbered(_events(body, ident, chunks_of(first, rest))), _stream_error)
    answer = await until_disconnected(request, gather_answer(chunks_of(first, rest)))
    output: list[Any] = []
    if answer.thinking:
        output.append(wire.OutputReasoning(id=_ident("rs"), content=[wire.ReasoningText(text=answer.thinking)]))
    if answer.text or not answer.tool_calls:
        output.append(wire.OutputMessage(id=_ident("msg"), content=[wire.OutputText(text=answer.text)]))
    output += [_function_call(call) for call in answer.tool_calls]
    return JSONResponse(_response(body, ident, _status(answer.last), output, answer.last).model_dump(mode="json"))


def _stream_error(exc: EmberError) -> dict[str, Any]:
    return {"type": "error", "code": str(exc.status), "message": str(exc), "param": None}


async def _numbered(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    number = 0
    async for event in events:
        yield {**event, "sequence_number": number}
        number += 1


@dataclass
class _Item:
    """The output item being streamed: a reasoning item or a message, and its text so far."""

    kind: str  # reasoning | message
    index: int
    id: str
    parts: list[str] = field(default_factory=list)

    @property
    def part(self) -> dict[str, Any]:
        text = "".join(self.parts)
        if self.kind == "reasoning":
            return {"type": "reasoning_text", "text": text}
        return wire.OutputText(text=text).model_dump()

    def item(self, status: wire.ItemStatus) -> wire.OutputReasoning | wire.OutputMessage:
        if self.kind == "reasoning":
            return wire.OutputReasoning(id=self.id, status=status,
                                        content=[wire.ReasoningText(text="".join(self.parts))] if self.parts else [])
        return wire.OutputMessage(id=self.id, status=status,
                                  content=[wire.OutputText(text="".join(self.parts))] if self.parts else [])


async def _events(body: wire.ResponsesRequest, ident: str, chunks: AsyncIterator[Chunk]) -> AsyncIterator[dict[str, Any]]:
    """response.created, then per output item: output_item.added, its content's deltas and done
    events, output_item.done; at the end response.completed (or response.incomplete)."""
    started = _response(body, ident, "in_progress", []).model_dump(mode="json")
    yield {"type": "response.created", "response": started}
    yield {"type": "response.in_progress", "response": started}
    output: list[Any] = []
    current: _Item | None = None

    def close(item: _Item) -> list[dict[str, Any]]:
        where = {"item_id": item.id, "output_index": item.index, "content_index": 0}
        text = "".join(item.parts)
        done = "response.reasoning_text.done" if item.kind == "reasoning" else "response.output_text.done"
        extra: dict[str, Any] = {} if item.kind == "reasoning" else {"logprobs": []}
        finished = item.item("completed")
        output.append(finished)
        return [{"type": done, **where, "text": text, **extra},
                {"type": "response.content_part.done", **where, "part": item.part},
                {"type": "response.output_item.done", "output_index": item.index,
                 "item": finished.model_dump(mode="json")}]

    async for chunk in chunks:
        for kind, piece in (("reasoning", chunk.thinking), ("message", chunk.text)):
            if not piece:
                continue
            if current is None or current.kind != kind:
                if current is not None:
                    for event in close(current):
                        yield event
                current = _Item(kind, len(output), _ident("rs" if kind == "reasoning" else "msg"))
                yield {"type": "response.output_item.added", "output_index": current.index,
                       "item": current.item("in_progress").model_dump(mode="json")}
                yield {"type": "response.content_part.added", "item_id": current.id,
                       "output_index": current.index, "content_index": 0, "part": current.part}
            current.parts.append(piece)
            where = {"item_id": current.id, "output_index": current.index, "content_index": 0}
            if kind == "reasoning":
                yield {"type": "response.reasoning_text.delta", **where, "delta": piece}
            else:
                yield {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
        for call in chunk.tool_calls:
            if current is not None:
                for event in close(current):
                    yield event
                current = None
            done = _function_call(call)
            index = len(output)
            pending = done.model_copy(update={"arguments": "", "status": "in_progress"})
            yield {"type": "response.output_item.added", "output_index": index, "item": pending.model_dump()}
            yield {"type": "response.function_call_arguments.delta", "item_id": done.id, "output_index": index,
                   "delta": done.arguments}
            yield {"type": "response.function_call_arguments.done", "item_id": done.id, "output_index": index,
                   "name": done.name, "arguments": done.arguments}
            yield {"type": "response.output_item.done", "output_index": index, "item": done.model_dump()}
            output.append(done)
        if chunk.done:
            if current is not None:
                for event in close(current):
                    yield event
            status = _status(chunk)
            final = _response(body, ident, status, output, chunk).model_dump(mode="json")
            yield {"type": f"response.{status}", "response": final}
