"""A prompt scored through OpenAI's legacy completions (`echo` with `logprobs`), with the official client,
the way evaluation harnesses ask for likelihoods: token ids or text, max_tokens 0 or 1."""

from __future__ import annotations

import math

import httpx
import ollama
import openai
import pytest

from tests.api.conftest import MODEL

CONTEXT = "The capital of France is"


def _ids(ollama_client: ollama.Client, text: str) -> list[int]:
    """The tokens `text` is read as: a raw prompt answered with nothing holds just them."""
    return list(ollama_client.generate(MODEL, text, raw=True, options={"num_predict": 0}).context)


def _continuation(openai_client: openai.OpenAI, ids: list[int], context: int) -> tuple[float, bool]:
    """What lm-evaluation-harness reads: the continuation's summed logprob, and whether greedy would say it."""
    reply = openai_client.completions.create(model=MODEL, prompt=ids, echo=True, logprobs=1, max_tokens=1,
                                             temperature=0, seed=1234)
    scores = reply.choices[0].logprobs
    tokens, tops = scores.token_logprobs[context:-1], scores.top_logprobs[context:-1]
    return sum(tokens), all(token == max(top.values()) for token, top in zip(tokens, tops, strict=True))


@pytest.mark.timeout(180)
def test_the_likelier_continuation_scores_higher(ollama_client: ollama.Client, openai_client: openai.OpenAI) -> None:
    context = _ids(ollama_client, CONTEXT)
    paris = _ids(ollama_client, CONTEXT + " Paris")
    banana = _ids(ollama_client, CONTEXT + " banana")
    assert paris[: len(context)] == context and banana[: len(context)] == context
    right, right_greedy = _continuation(openai_client, paris, len(context))
    wrong, wrong_greedy = _continuation(openai_client, banana, len(context))
    assert right > wrong and right < 0
    assert not wrong_greedy


@pytest.mark.timeout(120)
def test_text_echoed_with_its_scores_then_the_answer(openai_client: openai.OpenAI) -> None:
    reply = openai_client.completions.create(model=MODEL, prompt=CONTEXT, echo=True, logprobs=2, max_tokens=3,
                                             temperature=0)
    choice = reply.choices[0]
    scores = choice.logprobs
    prompt_tokens = reply.usage.prompt_tokens
    assert choice.text.startswith(CONTEXT) and len(choice.text) > len(CONTEXT)
    assert len(scores.tokens) == len(scores.token_logprobs) == len(scores.top_logprobs) == prompt_tokens + 3
    assert "".join(scores.tokens) == choice.text
    assert scores.token_logprobs[0] is None and scores.top_logprobs[0] is None
    assert all(value <= 0 for value in scores.token_logprobs[1:])
    assert all(len(top) == 2 for top in scores.top_logprobs[1:])
    assert scores.text_offset == [sum(len(t) for t in scores.tokens[:i]) for i in range(len(scores.tokens))]


@pytest.mark.timeout(120)
def test_token_ids_score_as_their_text_does(ollama_client: ollama.Client, openai_client: openai.OpenAI) -> None:
    ids = _ids(ollama_client, CONTEXT)
    by_text = openai_client.completions.create(model=MODEL, prompt=CONTEXT, echo=True, logprobs=0, max_tokens=0)
    by_ids = openai_client.completions.create(model=MODEL, prompt=ids, echo=True, logprobs=0, max_tokens=0)
    assert by_ids.choices[0].text == CONTEXT and by_ids.choices[0].finish_reason == "length"
    assert by_ids.usage.prompt_tokens == len(ids) and by_ids.usage.completion_tokens == 0
    assert by_ids.choices[0].logprobs.tokens == by_text.choices[0].logprobs.tokens
    for a, b in zip(by_ids.choices[0].logprobs.token_logprobs[1:], by_text.choices[0].logprobs.token_logprobs[1:],
                    strict=True):
        assert math.isclose(a, b, abs_tol=1e-3)


@pytest.mark.timeout(120)
def test_an_echo_streams_the_prompt_first(openai_client: openai.OpenAI) -> None:
    events = list(openai_client.completions.create(model=MODEL, prompt=CONTEXT, echo=True, logprobs=1,
                                                   max_tokens=3, temperature=0, stream=True))
    first = events[0].choices[0]
    assert first.text == CONTEXT and first.logprobs.token_logprobs[0] is None
    assert len(first.logprobs.tokens) >= 2 and "".join(first.logprobs.tokens) == CONTEXT
    assert "".join(e.choices[0].text for e in events).startswith(CONTEXT)
    plain = list(openai_client.completions.create(model=MODEL, prompt=CONTEXT, echo=True, max_tokens=2,
                                                  temperature=0, stream=True))
    assert plain[0].choices[0].text == CONTEXT and plain[0].choices[0].logprobs is None


@pytest.mark.timeout(60)
def test_bad_prompts_are_one_line_400s(server: str) -> None:
    empty = httpx.post(server + "/v1/completions", json={"model": MODEL, "prompt": [[]], "echo": True}, timeout=60)
    assert empty.status_code == 400 and "at least one" in empty.json()["error"]["message"]
    unknown = httpx.post(server + "/v1/completions", json={"model": MODEL, "prompt": [10**9], "max_tokens": 1},
                         timeout=60)
    assert unknown.status_code == 400 and "\n" not in unknown.json()["error"]["message"]
    long = " ".join(["word"] * 6000)  # more than the default context of 4096
    cut = httpx.post(server + "/v1/completions", json={"model": MODEL, "prompt": long, "echo": True, "logprobs": 0,
                                                       "max_tokens": 1}, timeout=60)
    assert cut.status_code == 400 and "context" in cut.json()["error"]["message"]
