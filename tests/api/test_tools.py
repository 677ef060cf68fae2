"""Tool calling end to end: a model whose template offers tools, its calls parsed into tool_calls."""

from __future__ import annotations

import json
from collections.abc import Iterator

import ollama
import openai
import pytest

from tests.api.conftest import MODEL

TOOLS_MODEL = "smollm2-tools:test"
# ChatML with the tools listed in the system turn, as Hermes-style templates do
TEMPLATE = """{{- if or .System .Tools }}<|im_start|>system
{{ .System }}
{{- if .Tools }}
You may call these functions:{{ range .Tools }}
{{ json .Function }}{{ end }}
Call one by answering {"name": <function name>, "arguments": <arguments object>}.
{{- end }}<|im_end|>
{{ end }}
{{- range .Messages }}<|im_start|>{{ if eq .Role "tool" }}user
<tool_response>{{ .Content }}</tool_response>{{ else }}{{ .Role }}
{{ .Content }}{{ end }}<|im_end|>
{{ end }}<|im_start|>assistant
"""
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
# Constraining the answer to a call's shape makes this small model call the tool every time.
CALL_SHAPE = {"type": "object", "properties": {
    "name": {"type": "string", "enum": ["get_weather"]},
    "arguments": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                  "required": ["city"]}}, "required": ["name", "arguments"]}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
OPTIONS = {"temperature": 0, "num_predict": 48}


@pytest.fixture(scope="module")
def tools_model(ollama_client: ollama.Client) -> Iterator[str]:
    ollama_client.create(TOOLS_MODEL, from_=MODEL, template=TEMPLATE, system="You are a helpful assistant.")
    assert "tools" in ollama_client.show(TOOLS_MODEL).capabilities
    yield TOOLS_MODEL
    ollama_client.delete(TOOLS_MODEL)


def test_chat_returns_parsed_tool_calls(ollama_client: ollama.Client, tools_model: str) -> None:
    reply = ollama_client.chat(tools_model, messages=QUESTION, tools=[WEATHER], format=CALL_SHAPE, options=OPTIONS)
    assert reply.message.content == ""
    (call,) = reply.message.tool_calls
    assert call.function.name == "get_weather"
    assert isinstance(call.function.arguments["city"], str) and call.function.arguments["city"]


def test_streamed_chat_returns_tool_calls_in_a_chunk(ollama_client: ollama.Client, tools_model: str) -> None:
    parts = list(ollama_client.chat(tools_model, messages=QUESTION, tools=[WEATHER], format=CALL_SHAPE,
                                    options=OPTIONS, stream=True))
    calls = [c for p in parts for c in (p.message.tool_calls or [])]
    assert [c.function.name for c in calls] == ["get_weather"]
    assert parts[-1].done and "".join(p.message.content for p in parts) == ""


def test_the_tool_result_goes_back_to_the_model(ollama_client: ollama.Client, tools_model: str) -> None:
    call = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    messages = [*QUESTION, {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "content": "18 degrees and sunny", "tool_name": "get_weather"}]
    reply = ollama_client.chat(tools_model, messages=messages, tools=[WEATHER], options=OPTIONS)
    assert reply.done and reply.message.content and not reply.message.tool_calls


def test_openai_tool_calls(server: str, tools_model: str) -> None:
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0)
    reply = client.chat.completions.create(
        model=tools_model, messages=QUESTION, tools=[WEATHER], max_tokens=48, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "call", "schema": CALL_SHAPE}})
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_") and call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)


def test_openai_tool_choice_forces_a_call(server: str, tools_model: str) -> None:
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0)
    ask = {"model": tools_model, "messages": QUESTION, "tools": [WEATHER], "max_tokens": 48, "temperature": 0}
    required = client.chat.completions.create(**ask, tool_choice="required")
    assert required.choices[0].finish_reason == "tool_calls"
    (call,) = required.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and isinstance(json.loads(call.function.arguments)["city"], str)
    named = {"type": "function", "function": {"name": "get_weather"}}
    chunks = list(client.chat.completions.create(**ask, tool_choice=named, stream=True))
    calls = [c for chunk in chunks if chunk.choices for c in chunk.choices[0].delta.tool_calls or []]
    assert [c.function.name for c in calls] == ["get_weather"] and "city" in json.loads(calls[0].function.arguments)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    none = client.chat.completions.create(**ask, tool_choice="none")
    assert none.choices[0].message.tool_calls is None and none.choices[0].finish_reason in ("stop", "length")


@pytest.mark.parametrize(("choice", "message"), [
    ("always", "tool_choice: Input should be 'auto', 'none' or 'required', got 'always'"),
    ({"type": "function"}, "tool_choice.function: Field required"),
    ({"type": "function", "function": {"name": "get_time"}},
     'tool_choice names "get_time", which is not one of the tools offered'),
])
def test_a_bad_openai_tool_choice_is_a_400_that_says_why(server: str, tools_model: str, choice: object,
                                                          message: str) -> None:
    client = openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=tools_model, messages=QUESTION, tools=[WEATHER], max_tokens=8,
                                       tool_choice=choice)  # type: ignore[arg-type]
    assert caught.value.body["message"] == message  # type: ignore[index]
