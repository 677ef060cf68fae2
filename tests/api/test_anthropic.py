"""Anthropic's Messages API, driven by the official `anthropic` client against the real server."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import ollama
import pytest
from ember.backend.wire import anthropic as wire

from tests.api.conftest import MODEL
from tests.api.test_tools import TEMPLATE, WEATHER

TOOLS_MODEL = "smollm2-anthropic-tools:test"
WEATHER_TOOL = {"name": "get_weather", "description": WEATHER["function"]["description"],
                "input_schema": WEATHER["function"]["parameters"]}
HI = [{"role": "user", "content": "Hi!"}]
ZERO = {"temperature": 0}  # this SDK leaves sampling fields to extra_body


@pytest.fixture(scope="module")
def client(server: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server, api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def tools_model(ollama_client: ollama.Client) -> Iterator[str]:
    ollama_client.create(TOOLS_MODEL, from_=MODEL, template=TEMPLATE, system="You are a helpful assistant.")
    yield TOOLS_MODEL
    ollama_client.delete(TOOLS_MODEL)


def test_messages_create_answers_in_anthropic_shape(client: anthropic.Anthropic, server: str) -> None:
    reply = client.messages.create(model=MODEL, max_tokens=8, extra_body=ZERO, messages=HI,
                                   system="Be brief.")
    assert reply.type == "message" and reply.role == "assistant" and reply.id.startswith("msg_")
    assert reply.content[0].type == "text" and reply.content[0].text.strip()
    assert reply.stop_reason in ("end_turn", "max_tokens")
    assert 1 <= reply.usage.output_tokens <= 8 and reply.usage.input_tokens > 0
    raw = httpx.post(server + "/v1/messages", json={"model": MODEL, "max_tokens": 4, "messages": HI},
                     timeout=60).json()
    wire.Message.model_validate(raw)


def test_max_tokens_and_stop_sequences_give_their_stop_reason(client: anthropic.Anthropic) -> None:
    capped = client.messages.create(model=MODEL, max_tokens=3, extra_body=ZERO,
                                    messages=[{"role": "user", "content": "Count to twenty."}])
    assert capped.stop_reason == "max_tokens" and capped.usage.output_tokens == 3
    stopped = client.messages.create(model=MODEL, max_tokens=40, extra_body=ZERO, stop_sequences=["4"],
                                     messages=[{"role": "user", "content": "Count from 1 to 9, separated by commas."}])
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "4"
    assert "4" not in stopped.content[0].text


def test_messages_stream_sends_the_event_sequence(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=8, extra_body=ZERO, messages=HI) as stream:
        events = list(stream)
        final = stream.get_final_message()
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.index("content_block_start") < kinds.index("content_block_delta") < kinds.index("content_block_stop")
    assert kinds[-2] == "message_delta"
    streamed = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert streamed.strip() and final.content[0].text == streamed
    assert final.stop_reason in ("end_turn", "max_tokens") and final.usage.output_tokens >= 1


def test_sse_frames_name_each_event(server: str) -> None:
    body = {"model": MODEL, "max_tokens": 4, "temperature": 0, "messages": HI, "stream": True}
    with httpx.stream("POST", server + "/v1/messages", json=body, timeout=60) as response:
        lines = [line for line in response.iter_lines() if line]
    names = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    assert names[:2] == ["message_start", "ping"] and names[-1] == "message_stop"
    assert len(names) == len([line for line in lines if line.startswith("data: ")])


def test_forced_tool_choice_returns_a_tool_use_block(client: anthropic.Anthropic, tools_model: str) -> None:
    reply = client.messages.create(
        model=tools_model, max_tokens=48, extra_body=ZERO, tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    assert reply.stop_reason == "tool_use"
    (use,) = [b for b in reply.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.id.startswith("toolu_") and isinstance(use.input["city"], str)


def test_streamed_tool_use_arrives_as_input_json(client: anthropic.Anthropic, tools_model: str) -> None:
    with client.messages.stream(model=tools_model, max_tokens=48, extra_body=ZERO, tools=[WEATHER_TOOL],
                                tool_choice={"type": "any"},
                                messages=[{"role": "user", "content": "Weather in Rome?"}]) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert any(e.type == "content_block_delta" and e.delta.type == "input_json_delta" for e in events)
    (use,) = [b for b in final.content if b.type == "tool_use"]
    assert use.name == "get_weather" and "city" in use.input and final.stop_reason == "tool_use"


def test_a_tool_result_goes_back_to_the_model(client: anthropic.Anthropic, tools_model: str) -> None:
    reply = client.messages.create(model=tools_model, max_tokens=16, extra_body=ZERO, tools=[WEATHER_TOOL], messages=[
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 degrees and sunny"}]}])
    assert reply.content[0].type == "text" and reply.content[0].text.strip()
    with_result = client.messages.count_tokens(model=tools_model, tools=[WEATHER_TOOL], messages=[
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 degrees and sunny"}]}])
    without = client.messages.count_tokens(model=tools_model, tools=[WEATHER_TOOL], messages=[
        {"role": "user", "content": "x"}])
    assert with_result.input_tokens > without.input_tokens


def test_count_tokens_counts_the_rendered_prompt(client: anthropic.Anthropic) -> None:
    short = client.messages.count_tokens(model=MODEL, messages=HI)
    longer = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Hi! " * 10}])
    assert 0 < short.input_tokens < longer.input_tokens
    reply = client.messages.create(model=MODEL, max_tokens=1, messages=[{"role": "user", "content": "Count me."}])
    counted = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Count me."}])
    assert counted.input_tokens >= reply.usage.input_tokens  # a cached prefix is not evaluated again


@pytest.mark.timeout(300)  # a dozen tools make a long prompt to evaluate on two shared cores
def test_an_agent_shaped_request_is_accepted(client: anthropic.Anthropic, tools_model: str) -> None:
    tools = [{"name": f"tool_{i}", "description": f"Tool number {i}", "cache_control": {"type": "ephemeral"},
              "input_schema": {"type": "object", "properties": {"path": {"type": "string"}},
                               "required": ["path"], "additionalProperties": False,
                               "$schema": "http://json-schema.org/draft-07/schema#"}} for i in range(12)]
    reply = client.messages.create(
        model=tools_model, max_tokens=2, extra_body=ZERO, tools=tools, tool_choice={"type": "auto"},
        metadata={"user_id": "user_abc_session_123"},
        system=[{"type": "text", "text": "You are an agent for software engineering."},
                {"type": "text", "text": "Answer briefly.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>Be careful.</system-reminder>"},
            {"type": "text", "text": "List the files here.", "cache_control": {"type": "ephemeral"}}]}],
        extra_headers={"anthropic-beta": "claude-code-20250219"})
    assert reply.type == "message" and reply.stop_reason in ("end_turn", "max_tokens", "tool_use")
    assert reply.content


def test_errors_come_in_anthropic_shape(client: anthropic.Anthropic, server: str) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="no-such-model", max_tokens=4, messages=HI)
    assert missing.value.body["type"] == "error" and missing.value.body["error"]["type"] == "not_found_error"
    assert "no-such-model" in missing.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model=MODEL, max_tokens=0, messages=HI)
    assert bad.value.body["error"]["type"] == "invalid_request_error" and "max_tokens" in bad.value.body["error"]["message"]
    raw = httpx.post(server + "/v1/messages", content=b"{not json", timeout=60)
    assert raw.status_code == 400 and wire.ErrorResponse.model_validate(raw.json()).error.type == "invalid_request_error"


def test_thinking_and_images_on_a_model_without_them(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="does not support thinking"):
        client.messages.create(model=MODEL, max_tokens=4, messages=HI,
                               thinking={"type": "enabled", "budget_tokens": 1024})
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    with pytest.raises(anthropic.BadRequestError, match="does not support vision"):
        client.messages.create(model=MODEL, max_tokens=4, messages=[
            {"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}])
    disabled = client.messages.create(model=MODEL, max_tokens=2, messages=HI, thinking={"type": "disabled"})
    assert disabled.content[0].type == "text"


def test_tools_on_a_model_without_a_place_for_them(client: anthropic.Anthropic, server: str) -> None:
    plain = {"model": "notools-anthropic:test", "from": MODEL, "template": "{{ .Prompt }}", "stream": False}
    assert httpx.post(server + "/api/create", json=plain, timeout=60).status_code == 200
    with pytest.raises(anthropic.BadRequestError, match="does not support tools"):
        client.messages.create(model="notools-anthropic:test", max_tokens=4, messages=HI, tools=[WEATHER_TOOL])


def test_the_api_key_may_come_as_x_api_key(secured: str) -> None:
    headers = {"Host": "127.0.0.1"}
    good = anthropic.Anthropic(base_url=secured, api_key="sesame", max_retries=0, default_headers=headers)
    assert good.messages.count_tokens(model=MODEL, messages=HI).input_tokens > 0
    bad = anthropic.Anthropic(base_url=secured, api_key="wrong", max_retries=0, default_headers=headers)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        bad.messages.count_tokens(model=MODEL, messages=HI)
    assert refused.value.body["error"]["type"] == "authentication_error"
    bearer = httpx.post(secured + "/v1/messages/count_tokens", headers={"Authorization": "Bearer sesame"},
                        json={"model": MODEL, "messages": HI}, timeout=60)
    assert bearer.status_code == 200 and bearer.json()["input_tokens"] > 0


def test_output_config_format_constrains_the_answer_to_the_schema(client: anthropic.Anthropic) -> None:
    import json

    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"]}
    reply = client.messages.create(model=MODEL, max_tokens=32, extra_body=ZERO,
                                   output_config={"format": {"type": "json_schema", "schema": schema}},
                                   messages=[{"role": "user", "content": "Name a city."}])
    assert isinstance(json.loads(reply.content[0].text)["city"], str)
