"""OpenAI's Responses API, driven by the official `openai` client against the real server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import ollama
import openai
import pytest
from ember.backend.wire import responses as wire

from tests.api.conftest import MODEL
from tests.api.test_tools import TEMPLATE, WEATHER

TOOLS_MODEL = "smollm2-responses-tools:test"
FUNCTION = {"type": "function", "name": "get_weather", "description": WEATHER["function"]["description"],
            "parameters": WEATHER["function"]["parameters"]}
ZERO = {"temperature": 0}


@pytest.fixture(scope="module")
def tools_model(ollama_client: ollama.Client) -> Iterator[str]:
    ollama_client.create(TOOLS_MODEL, from_=MODEL, template=TEMPLATE, system="You are a helpful assistant.")
    yield TOOLS_MODEL
    ollama_client.delete(TOOLS_MODEL)


def test_responses_create_answers_with_a_message(openai_client: openai.OpenAI, server: str) -> None:
    reply = openai_client.responses.create(model=MODEL, input="Hi!", instructions="Be brief.",
                                           max_output_tokens=8, **ZERO)
    assert reply.object == "response" and reply.id.startswith("resp_")
    assert reply.status in ("completed", "incomplete") and reply.output[0].type == "message"
    assert reply.output_text.strip() and reply.output_text == reply.output[0].content[0].text
    assert reply.usage.output_tokens >= 1 and reply.usage.total_tokens == reply.usage.input_tokens + reply.usage.output_tokens
    raw = httpx.post(server + "/v1/responses", json={"model": MODEL, "input": "Hi!", "max_output_tokens": 2},
                     timeout=60).json()
    wire.Response.model_validate(raw)


def test_max_output_tokens_leaves_the_response_incomplete(openai_client: openai.OpenAI) -> None:
    reply = openai_client.responses.create(model=MODEL, input="Count to twenty.", max_output_tokens=3, **ZERO)
    assert reply.status == "incomplete" and reply.incomplete_details.reason == "max_output_tokens"
    assert reply.usage.output_tokens == 3


def test_streamed_response_sends_the_events(openai_client: openai.OpenAI) -> None:
    events = list(openai_client.responses.create(model=MODEL, input=[{"role": "user", "content": "Hi!"}],
                                                 max_output_tokens=8, stream=True, **ZERO))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] in ("response.completed", "response.incomplete")
    for expected in ("response.output_item.added", "response.content_part.added", "response.output_text.delta",
                     "response.output_text.done", "response.output_item.done"):
        assert expected in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    (done,) = [e for e in events if e.type == "response.output_text.done"]
    assert deltas.strip() and done.text == deltas and events[-1].response.output_text == deltas


def test_stream_helper_accumulates_the_response(openai_client: openai.OpenAI) -> None:
    # the helper wants response.completed: an answer that ends by itself, not at max_output_tokens
    with openai_client.responses.stream(model=MODEL, input="Hi!", max_output_tokens=64, **ZERO) as stream:
        texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.output_text == "".join(texts) and final.output_text.strip()


def test_a_required_function_tool_is_called(openai_client: openai.OpenAI, tools_model: str) -> None:
    reply = openai_client.responses.create(model=tools_model, input="What is the weather in Paris?",
                                           tools=[FUNCTION], tool_choice="required", max_output_tokens=48, **ZERO)
    (call,) = [item for item in reply.output if item.type == "function_call"]
    assert call.name == "get_weather" and call.call_id.startswith("call_")
    assert isinstance(json.loads(call.arguments)["city"], str)


def test_a_streamed_function_call(openai_client: openai.OpenAI, tools_model: str) -> None:
    events = list(openai_client.responses.create(
        model=tools_model, input="Weather in Rome?", tools=[FUNCTION], max_output_tokens=48, stream=True,
        tool_choice={"type": "function", "name": "get_weather"}, **ZERO))
    (arguments,) = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert "city" in json.loads(arguments.arguments)
    (call,) = [i for i in events[-1].response.output if i.type == "function_call"]
    assert call.name == "get_weather" and call.arguments == arguments.arguments


def test_function_call_output_goes_back_to_the_model(openai_client: openai.OpenAI, tools_model: str) -> None:
    reply = openai_client.responses.create(model=tools_model, tools=[FUNCTION], max_output_tokens=16, **ZERO, input=[
        {"role": "user", "content": [{"type": "input_text", "text": "What is the weather in Paris?"}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "18 degrees and sunny"}])
    assert reply.output[0].type == "message" and reply.output_text.strip()


def test_text_format_json_schema_constrains_the_answer(openai_client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"],
              "additionalProperties": False}
    reply = openai_client.responses.create(
        model=MODEL, input="Name a city.", max_output_tokens=32, **ZERO,
        text={"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}})
    assert isinstance(json.loads(reply.output_text)["city"], str)


def test_stateless_requests_and_bad_input_are_clear_errors(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="stateless"):
        openai_client.responses.create(model=MODEL, input="Hi!", previous_response_id="resp_123")
    with pytest.raises(openai.BadRequestError, match="function tools"):
        openai_client.responses.create(model=MODEL, input="Hi!", tools=[{"type": "web_search"}])
    with pytest.raises(openai.NotFoundError, match="no-such-model"):
        openai_client.responses.create(model="no-such-model", input="Hi!")
    with pytest.raises(openai.BadRequestError, match="does not support thinking"):
        openai_client.responses.create(model=MODEL, input="Hi!", reasoning={"effort": "high"})
    with pytest.raises(openai.BadRequestError, match="does not support vision"):
        openai_client.responses.create(model=MODEL, input=[{"role": "user", "content": [
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]}])
