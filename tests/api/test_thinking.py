"""Thinking over real HTTP: a smollm2 TEMPLATE with Ollama's `.Think` switch, the real model's output split."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import ollama
import openai
import pytest
from ember.backend.pull.packages import PACKAGED_MODELS

from tests.api.conftest import MODEL

THINKER = "smollm2-thinks:test"
# ChatML whose assistant turn opens a <think> block when the request asks for thinking
TEMPLATE = """{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ if .Think }}<think>
{{ end }}"""
QUESTION = "Why is the sky blue?"
SYSTEM = PACKAGED_MODELS[MODEL].system  # the base model's SYSTEM layer comes along
PROMPT = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n"
OPTIONS = {"temperature": 0, "seed": 1, "num_predict": 12}


@pytest.fixture(scope="module")
def thinker(ollama_client: ollama.Client) -> Iterator[str]:
    ollama_client.create(THINKER, from_=MODEL, template=TEMPLATE)
    yield THINKER
    ollama_client.delete(THINKER)


@pytest.fixture(scope="module")
def raw(ollama_client: ollama.Client) -> dict[bool, str]:
    """What the model writes after the prompt with and without the opening tag, unparsed
    (the base model has no thinking to split)."""
    return {think: ollama_client.generate(MODEL, PROMPT + ("<think>\n" if think else ""), raw=True,
                                          options=OPTIONS).response for think in (True, False)}


def expected_split(raw: str) -> tuple[str, str]:
    thinking, _, content = raw.partition("</think>")
    return thinking.strip(), content.strip()


def test_a_template_with_think_gives_the_thinking_capability(ollama_client: ollama.Client, thinker: str) -> None:
    assert "thinking" in ollama_client.show(thinker).capabilities
    assert "thinking" not in ollama_client.show(MODEL).capabilities


def test_the_models_thinking_comes_in_message_thinking_not_content(ollama_client: ollama.Client,
                                                                  thinker: str, raw: dict[bool, str]) -> None:
    reply = ollama_client.chat(thinker, messages=[{"role": "user", "content": QUESTION}], think=True,
                               options=OPTIONS)
    assert reply.message.thinking
    assert (reply.message.thinking, reply.message.content) == expected_split(raw[True])
    assert "<think>" not in reply.message.content and "</think>" not in reply.message.content


def test_streamed_thinking_joins_to_the_same_text(ollama_client: ollama.Client, thinker: str) -> None:
    whole = ollama_client.chat(thinker, messages=[{"role": "user", "content": QUESTION}], think=True,
                               options=OPTIONS)
    parts = list(ollama_client.chat(thinker, messages=[{"role": "user", "content": QUESTION}], think=True,
                                    options=OPTIONS, stream=True))
    assert len(parts) > 2 and parts[-1].done
    assert "".join(p.message.thinking or "" for p in parts) == whole.message.thinking
    assert "".join(p.message.content for p in parts) == whole.message.content


def test_generate_returns_thinking_beside_the_response(ollama_client: ollama.Client, thinker: str,
                                                      raw: dict[bool, str]) -> None:
    reply = ollama_client.generate(thinker, QUESTION, think=True, options=OPTIONS)
    assert (reply.thinking, reply.response) == expected_split(raw[True])


def test_think_false_leaves_the_tag_out_and_answers_in_content(ollama_client: ollama.Client, thinker: str,
                                                              raw: dict[bool, str]) -> None:
    reply = ollama_client.chat(thinker, messages=[{"role": "user", "content": QUESTION}], think=False,
                               options=OPTIONS)
    assert not reply.message.thinking and reply.message.content == raw[False]


def test_unset_a_model_that_can_think_thinks(ollama_client: ollama.Client, thinker: str,
                                            raw: dict[bool, str]) -> None:
    reply = ollama_client.chat(thinker, messages=[{"role": "user", "content": QUESTION}], options=OPTIONS)
    assert (reply.message.thinking, reply.message.content) == expected_split(raw[True])


def test_a_model_without_thinking_refuses_think_true_but_takes_false(server: str) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": False,
            "options": {"num_predict": 1}}
    refused = httpx.post(server + "/api/chat", json={**body, "think": True}, timeout=120)
    assert refused.status_code == 400 and "does not support thinking" in refused.json()["error"]
    assert httpx.post(server + "/api/chat", json={**body, "think": False}, timeout=120).status_code == 200
    refused = httpx.post(server + "/api/generate", json={"model": MODEL, "prompt": "hi", "think": "high"}, timeout=120)
    assert refused.status_code == 400 and "does not support thinking" in refused.json()["error"]


def test_a_level_that_is_no_level_is_a_400(server: str, thinker: str) -> None:
    body = {"model": thinker, "prompt": "hi", "think": "very"}
    refused = httpx.post(server + "/api/generate", json=body, timeout=120)
    assert refused.status_code == 400 and '"low", "medium" or "high"' in refused.json()["error"]


def test_openai_reasoning_effort_returns_the_thinking_as_reasoning(openai_client: openai.OpenAI, thinker: str,
                                                                 raw: dict[bool, str]) -> None:
    reply = openai_client.chat.completions.create(
        model=thinker, messages=[{"role": "user", "content": QUESTION}], reasoning_effort="high",
        temperature=0, seed=1, max_tokens=12)
    message = reply.choices[0].message
    assert (message.reasoning, message.content) == expected_split(raw[True])  # type: ignore[attr-defined]


def test_openai_reasoning_effort_none_turns_thinking_off(openai_client: openai.OpenAI, thinker: str,
                                                        raw: dict[bool, str]) -> None:
    off = openai_client.chat.completions.create(
        model=thinker, messages=[{"role": "user", "content": QUESTION}], reasoning_effort="none",
        temperature=0, seed=1, max_tokens=12)
    assert off.choices[0].message.content == raw[False]
    assert getattr(off.choices[0].message, "reasoning", None) is None


def test_openai_streams_reasoning_deltas(openai_client: openai.OpenAI, thinker: str) -> None:
    stream = openai_client.chat.completions.create(
        model=thinker, messages=[{"role": "user", "content": QUESTION}], reasoning_effort="low",
        temperature=0, seed=1, max_tokens=12, stream=True)
    deltas = [c.choices[0].delta for c in stream if c.choices]
    reasoning = "".join(getattr(d, "reasoning", None) or "" for d in deltas)
    assert reasoning and "<think>" not in "".join(d.content or "" for d in deltas)


async def test_the_remote_backend_carries_think_and_thinking(server: str, thinker: str,
                                                            raw: dict[bool, str]) -> None:
    from ember.backend.remote.ollama_backend import RemoteBackend
    from ember.backend.types import ChatRequest, Message

    remote = RemoteBackend(server)
    try:
        request = ChatRequest(thinker, [Message("user", QUESTION)], options=OPTIONS, think=True)
        chunks = [c async for c in remote.chat(request)]
    finally:
        await remote.close()
    thinking, content = expected_split(raw[True])
    assert "".join(c.thinking for c in chunks) == thinking and "".join(c.text for c in chunks) == content
