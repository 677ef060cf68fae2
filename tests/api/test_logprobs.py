"""logprobs over real HTTP with the official clients: Ollama's fields and OpenAI's two shapes."""

from __future__ import annotations

import math

import httpx
import ollama
import openai

from tests.api.conftest import MODEL

QUESTION = [{"role": "user", "content": "Name a colour."}]
GREEDY = {"temperature": 0, "seed": 1, "num_predict": 6}


def test_ollama_chat_returns_a_logprob_per_token(ollama_client: ollama.Client) -> None:
    reply = ollama_client.chat(MODEL, messages=QUESTION, options=GREEDY, logprobs=True, top_logprobs=2)
    assert reply.logprobs and len(reply.logprobs) == reply.eval_count
    assert "".join(lp.token for lp in reply.logprobs) == reply.message.content
    for lp in reply.logprobs:
        assert lp.logprob <= 0 and len(lp.top_logprobs) == 2
        assert lp.top_logprobs[0].token == lp.token  # greedy took the likeliest


def test_ollama_generate_streams_logprobs_with_their_text(ollama_client: ollama.Client) -> None:
    parts = list(ollama_client.generate(MODEL, "The sky is", options=GREEDY, logprobs=True, stream=True))
    scored = [lp for p in parts for lp in (p.logprobs or [])]
    assert len(scored) == 6 and "".join(lp.token for lp in scored) == "".join(p.response for p in parts)
    assert all(not lp.top_logprobs for lp in scored)


def test_without_logprobs_there_are_none(ollama_client: ollama.Client) -> None:
    assert not ollama_client.generate(MODEL, "The sky is", options=GREEDY).logprobs


def test_openai_chat_logprobs(openai_client: openai.OpenAI) -> None:
    reply = openai_client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, seed=1,
                                                  max_tokens=6, logprobs=True, top_logprobs=3)
    choice = reply.choices[0]
    content = choice.logprobs.content
    assert len(content) == reply.usage.completion_tokens
    assert "".join(t.token for t in content) == choice.message.content
    for token in content:
        assert bytes(token.bytes).decode() == token.token and len(token.top_logprobs) == 3
        assert math.isclose(token.top_logprobs[0].logprob, token.logprob, abs_tol=1e-5)


def test_openai_streamed_chat_logprobs(openai_client: openai.OpenAI) -> None:
    stream = openai_client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, seed=1,
                                                   max_tokens=6, logprobs=True, stream=True)
    chunks = [c for c in stream if c.choices]
    tokens = [t.token for c in chunks if c.choices[0].logprobs for t in c.choices[0].logprobs.content]
    assert len(tokens) == 6 and "".join(tokens) == "".join(c.choices[0].delta.content or "" for c in chunks)


def test_openai_completions_logprobs(openai_client: openai.OpenAI) -> None:
    reply = openai_client.completions.create(model=MODEL, prompt="The sky is", temperature=0, seed=1,
                                             max_tokens=6, logprobs=2)
    logprobs = reply.choices[0].logprobs
    assert len(logprobs.tokens) == len(logprobs.token_logprobs) == len(logprobs.top_logprobs) == 6
    assert "".join(logprobs.tokens) == reply.choices[0].text
    assert logprobs.text_offset == [sum(len(t) for t in logprobs.tokens[:i]) for i in range(6)]
    assert all(len(alternatives) == 2 for alternatives in logprobs.top_logprobs)


def test_too_many_alternatives_is_a_400(server: str) -> None:
    body = {"model": MODEL, "prompt": "x", "logprobs": True, "top_logprobs": 21}
    refused = httpx.post(server + "/api/generate", json=body, timeout=120)
    assert refused.status_code == 400 and "top_logprobs" in refused.json()["error"]
