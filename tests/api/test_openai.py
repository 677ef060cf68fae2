"""OpenAI's endpoints, driven by the official `openai` Python client against the real server."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.api.conftest import MODEL

QUICK = {"temperature": 0, "max_tokens": 8, "seed": 1}


def test_models_lists_the_model(openai_client: openai.OpenAI) -> None:
    ids = [m.id for m in openai_client.models.list()]
    assert MODEL in ids
    assert openai_client.models.retrieve(MODEL).id == MODEL


def test_chat_completion_with_usage(openai_client: openai.OpenAI) -> None:
    reply = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}],
        **QUICK)
    choice = reply.choices[0]
    assert reply.object == "chat.completion" and reply.id.startswith("chatcmpl-")
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage.completion_tokens >= 1
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_chat_completion_streams_sse_with_usage(openai_client: openai.OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi!"}], stream=True,
        stream_options={"include_usage": True}, **QUICK)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["length"] or finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens >= 1


def test_stop_and_max_tokens_are_honoured(openai_client: openai.OpenAI) -> None:
    capped = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Count to twenty."}], max_tokens=3, temperature=0)
    assert capped.usage.completion_tokens == 3 and capped.choices[0].finish_reason == "length"
    stopped = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Count from 1 to 9, separated by commas."}],
        max_tokens=40, temperature=0, stop=["4"])
    assert "4" not in stopped.choices[0].message.content


def test_seed_makes_sampling_repeatable(openai_client: openai.OpenAI) -> None:
    def ask() -> str:
        reply = openai_client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Tell me a word."}], max_tokens=8,
            temperature=1.0, top_p=0.95, seed=42)
        return reply.choices[0].message.content

    assert ask() == ask()


def test_response_format_json_schema_parses_and_matches(openai_client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20},
                                                "population": {"type": "integer"}},
              "required": ["city", "population"]}
    reply = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Name a city and its population."}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
        max_tokens=64, temperature=0)
    data = json.loads(reply.choices[0].message.content)
    assert isinstance(data["city"], str) and isinstance(data["population"], int)


def test_completions_plain_and_streamed(openai_client: openai.OpenAI) -> None:
    reply = openai_client.completions.create(model=MODEL, prompt="The capital of France is", **QUICK)
    assert reply.object == "text_completion" and reply.choices[0].text.strip()
    streamed = list(openai_client.completions.create(model=MODEL, prompt="The capital of France is",
                                                     stream=True, **QUICK))
    assert "".join(c.choices[0].text for c in streamed if c.choices) == reply.choices[0].text
    assert streamed[-1].choices[0].finish_reason in ("stop", "length")


def test_embeddings_are_unit_vectors(openai_client: openai.OpenAI) -> None:
    result = openai_client.embeddings.create(model=MODEL, input=["one", "two"])
    assert [d.index for d in result.data] == [0, 1]
    for item in result.data:
        assert len(item.embedding) == 576
        assert sum(v * v for v in item.embedding) == pytest.approx(1.0, abs=1e-4)


def test_errors_come_back_as_openai_errors(openai_client: openai.OpenAI, server: str) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        openai_client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert "no-such-model" in str(missing.value)
    with pytest.raises(openai.BadRequestError):
        openai_client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}],
                                              temperature=-3)
    raw = httpx.post(server + "/v1/chat/completions", content=b"{nope")
    assert raw.status_code == 400
    error = raw.json()["error"]
    assert error["type"] == "invalid_request_error" and "JSON" in error["message"]


@pytest.mark.timeout(120)
def test_n_choices_are_decoded_side_by_side_each_the_answer_its_own_seed_gives(openai_client: openai.OpenAI) -> None:
    asked = {"model": MODEL, "messages": [{"role": "user", "content": "Name a fruit."}], "max_tokens": 10,
             "temperature": 1.0}
    reply = openai_client.chat.completions.create(**asked, n=3, seed=5)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    alone = [openai_client.chat.completions.create(**asked, seed=seed) for seed in (5, 6, 7)]
    assert [c.message.content for c in reply.choices] == [a.choices[0].message.content for a in alone]
    assert len({a.choices[0].message.content for a in alone}) > 1  # three seeds, not one answer three times
    assert reply.usage.prompt_tokens == alone[0].usage.prompt_tokens  # the prompt counted once
    assert reply.usage.completion_tokens == sum(a.usage.completion_tokens for a in alone)


@pytest.mark.timeout(120)
def test_n_choices_stream_interleaved_by_index_with_one_usage(openai_client: openai.OpenAI) -> None:
    asked = {"model": MODEL, "messages": [{"role": "user", "content": "Name a fruit."}], "max_tokens": 8,
             "temperature": 1.0, "seed": 9, "n": 2}
    whole = openai_client.chat.completions.create(**asked)
    texts, finished, usages = {0: "", 1: ""}, {}, []
    for chunk in openai_client.chat.completions.create(**asked, stream=True, stream_options={"include_usage": True}):
        if chunk.usage is not None:
            usages.append(chunk.usage)
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finished[choice.index] = choice.finish_reason
    assert [texts[0], texts[1]] == [c.message.content for c in whole.choices]
    assert set(finished) == {0, 1}
    assert len(usages) == 1 and usages[0].completion_tokens == whole.usage.completion_tokens


def test_more_choices_than_allowed_is_one_line(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="n: Input should be less than or equal to 16, got 17"):
        openai_client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                              max_tokens=2, n=17)


@pytest.mark.timeout(120)
def test_legacy_completions_answer_a_list_of_prompts_n_times_each_in_order(openai_client: openai.OpenAI) -> None:
    prompts = ["The capital of France is", "Two plus two is"]
    asked = {"model": MODEL, "max_tokens": 6, "temperature": 1.0, "seed": 3}
    reply = openai_client.completions.create(prompt=prompts, n=2, **asked)
    assert [c.index for c in reply.choices] == [0, 1, 2, 3]
    alone = [openai_client.completions.create(prompt=prompt, **{**asked, "seed": seed})
             for prompt in prompts for seed in (3, 4)]
    assert [c.text for c in reply.choices] == [a.choices[0].text for a in alone]
    assert reply.usage.prompt_tokens == alone[0].usage.prompt_tokens + alone[2].usage.prompt_tokens
    assert reply.usage.completion_tokens == sum(a.usage.completion_tokens for a in alone)
    texts: dict[int, str] = {}
    for chunk in openai_client.completions.create(prompt=prompts, n=2, stream=True, **asked):
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
    assert [texts[i] for i in range(4)] == [c.text for c in reply.choices]


def test_legacy_completions_refuse_more_answers_than_allowed_in_one_line(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match=r"40 prompts × n 2 asks for 80 answers; ember gives 1 to 64"):
        openai_client.completions.create(model=MODEL, prompt=["hi"] * 40, n=2, max_tokens=2)
