"""OpenAIBackend against llama-cpp-python's own OpenAI-compatible server, a real server not written here."""

from __future__ import annotations

import math

import pytest
from ember.backend.errors import EmberError, ModelNotFound, NotSupported, RemoteError, Unauthorized
from ember.backend.remote.clock import RemoteTimings
from ember.backend.remote.detect import detect, detect_async
from ember.backend.remote.openai_backend import OpenAIBackend
from ember.backend.types import ChatRequest, GenerateRequest, Message

from tests.remote.conftest import KEY, MODEL, QUICK


def test_the_protocol_is_detected_from_the_address(openai_server: str) -> None:
    for address in (openai_server, openai_server + "/v1", openai_server.removeprefix("http://")):
        endpoint = detect(address)
        assert (endpoint.api, endpoint.url) == ("openai", openai_server + "/v1")
    assert detect(openai_server, api="openai").url == openai_server + "/v1"


async def test_detection_without_blocking_and_a_key_that_is_needed(keyed_server: str) -> None:
    endpoint = await detect_async(keyed_server)  # /v1/models answers 401 without the key: still OpenAI's API
    assert endpoint.api == "openai" and endpoint.needs_key
    assert not (await detect_async(keyed_server, api_key=KEY)).needs_key


async def test_models_are_listed_and_shown_and_an_unknown_one_is_named(openai_server: str) -> None:
    remote = OpenAIBackend(openai_server)
    try:
        models = await remote.list_models()
        assert [m.name for m in models] == [MODEL]
        assert remote.flavour == "llama-cpp-python"
        info = await remote.show(MODEL)
        assert info.name == MODEL and "OpenAI-compatible" in info.modelfile
        assert (await remote.show(MODEL + ":latest")).name == MODEL
        with pytest.raises(ModelNotFound, match=rf'"llama-70b" not found on the server at {openai_server}/v1'):
            await remote.show("llama-70b")
        with pytest.raises(ModelNotFound, match="llama-70b"):  # the server itself would answer any name
            [c async for c in remote.chat(ChatRequest("llama-70b", [Message("user", "Hi")], options=QUICK))]
    finally:
        await remote.close()


async def test_chat_streams_with_honest_timings(openai_server: str) -> None:
    remote = OpenAIBackend(openai_server)
    try:
        chunks = [c async for c in remote.chat(ChatRequest(MODEL, [Message("user", "Say hello.")], options=QUICK))]
    finally:
        await remote.close()
    text_chunks = [c for c in chunks if c.text]
    # pieces that arrive together may be merged (a matter of speed): text comes before, apart from, the end
    assert text_chunks and not any(c.done for c in text_chunks) and chunks[-1].done and not chunks[-1].text
    final = chunks[-1]
    assert final.done and final.done_reason == "length"  # num_predict 8 became max_tokens 8
    timings = final.timings
    assert isinstance(timings, RemoteTimings)
    # this server sends no usage when streaming: the pieces are counted here, and it says so
    assert timings.counted_here and timings.eval_count == len(text_chunks) == 8
    assert 0 < timings.time_to_first_token <= timings.total_duration
    assert timings.eval_rate > 0


async def test_temperature_zero_is_deterministic_and_options_reach_the_server(openai_server: str) -> None:
    remote = OpenAIBackend(openai_server)
    request = ChatRequest(MODEL, [Message("user", "Name a colour.")], options={**QUICK, "top_k": 1})
    try:
        # once first, so both answers compared read the prompt from the server's cache: a prompt evaluated
        # afresh or reused may round differently on some CPUs (the server's behaviour, not the options')
        [c async for c in remote.chat(request)]
        first = "".join([c.text async for c in remote.chat(request)])
        second = "".join([c.text async for c in remote.chat(request)])
        short = [c async for c in remote.chat(ChatRequest(MODEL, request.messages, options={**QUICK, "num_predict": 2}))]
        stopped = "".join([c.text async for c in remote.chat(
            ChatRequest(MODEL, request.messages, options={**QUICK, "stop": [first.split()[1]]}))])
    finally:
        await remote.close()
    assert first == second and first.strip()
    assert short[-1].timings and short[-1].timings.eval_count == 2
    assert stopped == first.split(first.split()[1])[0].rstrip(" ") or len(stopped) < len(first)


async def test_a_parameter_the_server_ignores_is_reported_once(openai_server: str) -> None:
    notes: list[str] = []
    remote = OpenAIBackend(openai_server, notify=notes.append)
    options = {**QUICK, "num_ctx": 1024, "typical_p": 0.9, "repeat_penalty": 1.1, "min_p": 0.05}
    try:
        for _ in range(2):
            [c async for c in remote.chat(ChatRequest(MODEL, [Message("user", "Hi")], options=options))]
    finally:
        await remote.close()
    assert len(notes) == 2, notes  # once each, across both requests; repeat_penalty and min_p are taken
    assert notes[0].startswith("num_ctx is not applied") and "set when the server starts" in notes[0]
    assert notes[1].startswith("typical_p is not applied") and "llama-cpp-python" in notes[1]


async def test_generate_uses_the_chat_template_and_raw_prompts_go_to_completions(openai_server: str) -> None:
    remote = OpenAIBackend(openai_server)
    try:
        chatted = "".join([c.text async for c in remote.generate(GenerateRequest(MODEL, "Say hello.", options=QUICK))])
        via_chat = "".join([c.text async for c in remote.chat(
            ChatRequest(MODEL, [Message("user", "Say hello.")], options=QUICK))])
        raw = [c async for c in remote.generate(GenerateRequest(MODEL, "The capital of France is", raw=True,
                                                                 options=QUICK))]
        loaded = [c async for c in remote.generate(GenerateRequest(MODEL))]
    finally:
        await remote.close()
    assert chatted == via_chat
    assert "".join(c.text for c in raw).strip() and raw[-1].done
    assert loaded[-1].done_reason == "load"


async def test_embeddings_are_one_normalised_vector_per_input_as_ember_makes_them(openai_server: str, backend) -> None:
    remote = OpenAIBackend(openai_server)
    texts = ["a cat sat on the mat", "a cat sat on the mat", "quantum physics"]
    try:
        vectors = await remote.embed(MODEL, texts)  # this server answers one vector per token, unpooled
    finally:
        await remote.close()
    assert len(vectors) == 3 and all(len(v) == 576 for v in vectors)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-6) for v in vectors)
    assert vectors[0] == pytest.approx(vectors[1]) and vectors[0] != pytest.approx(vectors[2], abs=1e-3)
    local = await backend.embed(MODEL, texts[1:])  # mean pooling, L2-normalised, on this machine
    for remote_vector, local_vector in zip(vectors[1:], local):
        assert sum(a * b for a, b in zip(remote_vector, local_vector)) > 0.99


async def test_what_the_api_cannot_do_is_one_clear_line(openai_server: str) -> None:
    remote = OpenAIBackend(openai_server)
    calls = {
        "pulling": lambda: _drain(remote.pull(MODEL)),
        "creating": lambda: _drain(remote.create("x", f"FROM {MODEL}")),
        "copying": lambda: remote.copy(MODEL, "y"),
        "deleting": lambda: remote.delete(MODEL),
        "unloading": lambda: remote.unload(MODEL),
        "listing the loaded": lambda: remote.running(),
    }
    try:
        for verb, call in calls.items():
            with pytest.raises(NotSupported) as caught:
                await call()
            message = str(caught.value)
            assert message.startswith(verb) and "not supported by this server (OpenAI-compatible API)" in message
            assert "\n" not in message
        await remote.load(MODEL)  # models are the server's to load: knowing it serves this one is enough
    finally:
        await remote.close()


async def _drain(stream) -> None:  # type: ignore[no-untyped-def]
    async for _ in stream:
        pass


async def test_a_key_is_sent_as_a_bearer_token(keyed_server: str) -> None:
    for key, expected in (("", "needs an API key"), ("wrong", "refused the API key")):
        remote = OpenAIBackend(keyed_server, key)
        with pytest.raises(Unauthorized, match=expected) as caught:
            await remote.list_models()
        assert KEY not in str(caught.value) and (not key or key not in str(caught.value))
        await remote.close()
    remote = OpenAIBackend(keyed_server, KEY)
    try:
        answer = [c async for c in remote.chat(ChatRequest(MODEL, [Message("user", "Hi")], options=QUICK))]
        assert answer[-1].done and "".join(c.text for c in answer).strip()
    finally:
        await remote.close()


async def test_a_prompt_the_server_cannot_take_is_one_line(openai_server: str) -> None:
    remote = OpenAIBackend(openai_server)
    too_long = [Message("user", "word " * 3000)]  # the server's context is 2048 tokens
    try:
        with pytest.raises(RemoteError, match="closed the connection before answering .* check its log") as caught:
            [c async for c in remote.chat(ChatRequest(MODEL, too_long, options=QUICK))]
        assert "\n" not in str(caught.value)
    finally:
        await remote.close()


async def test_an_endpoint_that_never_answers_times_out_with_one_line(silent_endpoint: str) -> None:
    remote = OpenAIBackend(silent_endpoint, timeout=0.5)
    with pytest.raises(RemoteError, match=r"sent nothing for 0.5 s .* EMBER_REMOTE_TIMEOUT"):
        await remote.list_models()
    await remote.close()
    with pytest.raises(EmberError, match="cannot reach"):
        detect(silent_endpoint, timeout=0.3)
