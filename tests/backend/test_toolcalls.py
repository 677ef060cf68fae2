"""Tool calls found in a model's answer, in the syntaxes models write them, streamed or whole."""

from __future__ import annotations

import pytest
from ember.backend.prompt.toolcalls import parse_tool_calls, stream_tool_calls
from ember.backend.types import Chunk

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
CALL = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}


@pytest.mark.parametrize("answer", [
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
    '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}',
    '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}}]',
    '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}<|eom_id|>',
    '{"name": "get_weather", "arguments": {"city": "Paris"}}',
    '```json\n{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}\n```',
    '{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}',
])
def test_calls_in_each_syntax(answer: str) -> None:
    assert parse_tool_calls(answer, TOOLS) == ("", [CALL])


def test_several_calls_and_prose_before_them() -> None:
    answer = ('Let me check.\n<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>\n'
              '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>')
    prose, calls = parse_tool_calls(answer, TOOLS)
    assert prose == "Let me check."
    assert [c["function"]["arguments"]["city"] for c in calls] == ["Paris", "Rome"]


@pytest.mark.parametrize("answer", [
    "It is sunny in Paris.",
    '{"city": "Paris", "temperature": 18}',  # JSON, but not a call
    '{"name": "launch_rockets", "arguments": {}}',  # names no offered tool
    'Here: {"name": "get_weather", "arguments": {"city": "Paris"}} done',
    "<tool_call>not json</tool_call>",
])
def test_answers_that_are_not_calls_stay_text(answer: str) -> None:
    assert parse_tool_calls(answer, TOOLS) == (answer, [])


def _stream(pieces: list[str]) -> list[Chunk]:
    chunks = [Chunk(p) for p in pieces] + [Chunk("", done=True, done_reason="stop")]
    return list(stream_tool_calls(iter(chunks), TOOLS))


def test_streamed_prose_passes_through_as_it_comes() -> None:
    out = _stream(["It ", "is ", "sunny."])
    assert [c.text for c in out[:-1]] == ["It ", "is ", "sunny."]
    assert out[-1].done and not any(c.tool_calls for c in out)


def test_a_streamed_call_is_held_and_parsed_at_the_end() -> None:
    out = _stream(["<tool", '_call>{"name": "get_', 'weather", "arguments": {"city": "Paris"}}', "</tool_call>"])
    assert [c.tool_calls for c in out if c.tool_calls] == [[CALL]]
    assert "".join(c.text for c in out) == ""
    assert out[-1].done


def test_prose_then_a_call_in_a_stream() -> None:
    out = _stream(["Checking", " now.<tool_", 'call>{"name": "get_weather", "arguments": {"city": "Paris"}}'])
    assert "".join(c.text for c in out if not c.tool_calls) == "Checking now."
    assert [c.tool_calls for c in out if c.tool_calls] == [[CALL]]


def test_a_held_answer_that_is_no_call_comes_back_whole() -> None:
    out = _stream(["[1] ", "a footnote"])
    assert "".join(c.text for c in out) == "[1] a footnote" and not any(c.tool_calls for c in out)
