"""The embedded smollm2:135m as `ember pull` installs it: Ollama's library template, so tools work as shipped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import openai
import pytest
from ember.backend.config import Config
from ember.backend.pull.packages import PACKAGED_MODELS, SMOLLM2_TEMPLATE

from tests.api.conftest import MODEL, running_server
from tests.api.test_tools import CALL_SHAPE, WEATHER

QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
OPTIONS = {"temperature": 0, "seed": 1, "num_predict": 40}


@pytest.fixture(scope="module")
def pulled(tmp_path_factory: pytest.TempPathFactory, session_home: Path) -> Iterator[str]:
    """A server on a store of its own, into which smollm2:135m is pulled over the API."""
    from ember.backend.local.local_backend import LocalBackend

    config = Config(models=tmp_path_factory.mktemp("pulled") / "models", keep_alive="-1")
    backend = LocalBackend(config)
    with running_server(backend, config) as url:
        assert ollama.Client(host=url).pull(MODEL).status == "success"
        yield url
    backend.scheduler.unload_all()


def test_the_pulled_model_has_ollamas_template_and_the_tools_capability(pulled: str) -> None:
    shown = ollama.Client(host=pulled).show(MODEL)
    system = httpx.post(pulled + "/api/show", json={"model": MODEL}, timeout=30).json()["system"]
    assert shown.template == SMOLLM2_TEMPLATE and system == PACKAGED_MODELS[MODEL].system
    assert "tools" in shown.capabilities and "completion" in shown.capabilities


def test_the_ollama_client_gets_tool_calls(pulled: str) -> None:
    # a 135M model follows the template's instructions only loosely: the call's shape keeps it to a call
    reply = ollama.Client(host=pulled).chat(MODEL, messages=QUESTION, tools=[WEATHER], format=CALL_SHAPE,
                                            options=OPTIONS)
    (call,) = reply.message.tool_calls
    assert call.function.name == "get_weather" and call.function.arguments["city"] == "Paris"
    assert "<tool_call>" not in reply.message.content


def test_a_tool_result_goes_back_and_the_model_answers(pulled: str) -> None:
    call = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    messages = [*QUESTION, {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "content": "18 degrees and sunny", "tool_name": "get_weather"}]
    reply = ollama.Client(host=pulled).chat(MODEL, messages=messages, tools=[WEATHER], options=OPTIONS)
    assert reply.done and (reply.message.content or reply.message.tool_calls)


def test_the_openai_client_gets_tool_calls(pulled: str) -> None:
    client = openai.OpenAI(base_url=pulled + "/v1", api_key="unused", max_retries=0)
    reply = client.chat.completions.create(
        model=MODEL, messages=QUESTION, tools=[WEATHER], temperature=0, seed=1, max_tokens=40,
        response_format={"type": "json_schema", "json_schema": {"name": "call", "schema": CALL_SHAPE}})
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
