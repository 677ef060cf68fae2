"""Tool calls: find the calls a model wrote in its answer and return them as Ollama's `tool_calls`.

Models write calls in a few families of syntax: `<tool_call>{…}</tool_call>` (Hermes, Qwen,
SmolLM3), `[TOOL_CALLS] […]` (Mistral), `<|python_tag|>{…}` (Llama 3.1), `<function_call>` or a bare
JSON object / list naming one of the offered tools. While streaming, text that may start a call is
held back until the answer ends, so a client never sees half a call as prose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from ember.backend.errors import InvalidRequest
from ember.backend.types import Chunk

MARKERS = ("<tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "<function_call>", "<tools>")
_OPENERS = ("{", "[", "```")
_CLOSERS = re.compile(r"</tool_call>|</function_call>|</tools>|<\|eom_id\|>|<\|eot_id\|>")
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def tool_names(tools: list[dict[str, Any]] | None) -> set[str]:
    names = set()
    for tool in tools or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.add(function["name"])
    return names


def parse_tool_calls(text: str, tools: list[dict[str, Any]] | None) -> tuple[str, list[dict[str, Any]]]:
    """Split an answer into its prose and its tool calls (`[{"function": {"name", "arguments"}}]`)."""
    names = tool_names(tools)
    start = _first_marker(text)
    if start >= 0:
        prose, body = text[:start], text[start:]
        for marker in MARKERS:
            body = body.replace(marker, "\n")
        calls = _calls_in(_CLOSERS.sub("\n", body), names, require_known=False)
        if calls:
            return prose.strip(), calls
        return text, []
    calls = _calls_in(text, names, require_known=True)
    return ("", calls) if calls else (text, [])


def _first_marker(text: str) -> int:
    found = [i for i in (text.find(m) for m in MARKERS) if i >= 0]
    return min(found) if found else -1


def _calls_in(body: str, names: set[str], *, require_known: bool) -> list[dict[str, Any]]:
    """Every JSON value in `body` that describes a call; bare JSON must name an offered tool."""
    body = body.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    decoder = json.JSONDecoder()
    calls: list[dict[str, Any]] = []
    index = 0
    while index < len(body):
        if body[index] not in "{[":
            if require_known and body[index:].strip():
                return []  # prose around bare JSON: an answer, not a call
            index += 1
            continue
        try:
            value, index = decoder.raw_decode(body, index)
        except ValueError:
            return []
        for item in value if isinstance(value, list) else [value]:
            call = _as_call(item)
            if call is None or (require_known and call["function"]["name"] not in names):
                return []
            calls.append(call)
    return calls


def _as_call(item: object) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return None
    function = item.get("function")
    if isinstance(function, dict):
        item = function
    name = item.get("name")
    arguments = item.get("arguments", item.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(name, str) or not name or not isinstance(arguments, dict):
        return None
    return {"function": {"name": name, "arguments": arguments}}


class ToolCallStream:
    """Fed an answer chunk by chunk: passes prose through as it streams, holds what may be a tool call
    and parses it when the answer ends."""

    def __init__(self, tools: list[dict[str, Any]] | None) -> None:
        self.tools = tools
        self._buffer, self._holding, self._started = "", False, False

    def feed(self, chunk: Chunk) -> list[Chunk]:
        """What to send on now that `chunk` arrived."""
        if chunk.done:
            out = []
            if self._holding:
                prose, calls = parse_tool_calls(self._buffer, self.tools)
                if prose or calls:
                    out.append(Chunk(prose, tool_calls=calls))
            elif self._buffer:
                out.append(Chunk(self._buffer))
            self._buffer = ""
            return [*out, chunk]
        # thinking and scores pass straight through
        passed = [Chunk("", thinking=chunk.thinking, logprobs=chunk.logprobs, pieces=0)] \
            if chunk.thinking or chunk.logprobs else []
        return passed + self._prose(chunk.text)

    def _prose(self, text: str) -> list[Chunk]:
        self._buffer += text
        if self._holding:
            return []
        if not self._started:
            head = self._buffer.lstrip()
            if not head:
                return []
            if head.startswith(MARKERS + _OPENERS):
                self._holding = True
                return []
            if any(m.startswith(head) for m in MARKERS):
                return []
            self._started = True
        start = _first_marker(self._buffer)
        if start >= 0:
            prose, self._buffer, self._holding = self._buffer[:start], self._buffer[start:], True
            return [Chunk(prose)] if prose else []
        keep = _partial_marker(self._buffer)
        if len(self._buffer) > keep:
            prose, self._buffer = self._buffer[: len(self._buffer) - keep], self._buffer[len(self._buffer) - keep :]
            return [Chunk(prose)]
        return []

    def rest(self) -> list[Chunk]:
        """What is held when the answer stops without a last chunk."""
        rest, self._buffer = self._buffer, ""
        return [Chunk(rest)] if rest else []


def stream_tool_calls(chunks: Iterator[Chunk], tools: list[dict[str, Any]] | None) -> Iterator[Chunk]:
    """Pass prose through as it streams; hold what may be a tool call and parse it at the end."""
    calls = ToolCallStream(tools)
    for chunk in chunks:
        yield from calls.feed(chunk)
        if chunk.done:
            return
    yield from calls.rest()


def _partial_marker(text: str) -> int:
    """How many characters at the end of `text` could be the start of a marker."""
    longest = 0
    for marker in MARKERS:
        for size in range(min(len(marker) - 1, len(text)), longest, -1):
            if text.endswith(marker[:size]):
                longest = size
                break
    return longest


def call_schema(tools: list[dict[str, Any]], name: str | None = None) -> dict[str, Any]:
    """The JSON schema of an answer that calls `name` (or any of `tools`): what a forced tool choice
    constrains sampling to, so the call is made and its arguments match the tool's parameters."""
    shapes = []
    for tool in tools:
        function = tool.get("function") or {}
        if name is not None and function.get("name") != name:
            continue
        arguments = function.get("parameters") or {"type": "object"}
        # "parameters" (which _as_call reads as the arguments) sorts after "name", so the name comes first
        shapes.append({"type": "object", "properties": {"name": {"const": function.get("name")},
                                                        "parameters": arguments},
                       "required": ["name", "parameters"]})
    if not shapes:
        raise InvalidRequest(f'tool_choice names "{name}", which is not one of the tools offered')
    return shapes[0] if len(shapes) == 1 else {"anyOf": shapes}
