"""Many clients at once, and clients that leave: every request completes, a departure stops its work."""

from __future__ import annotations

import asyncio
import time

import httpx
import ollama
import pytest

from tests.api.conftest import MODEL


@pytest.mark.timeout(240)
async def test_eight_parallel_chats_all_complete(server: str) -> None:
    client = ollama.AsyncClient(host=server)
    questions = [f"Say the number {n}." for n in range(8)]

    async def ask(question: str) -> ollama.ChatResponse:
        return await client.chat(MODEL, messages=[{"role": "user", "content": question}],
                                 options={"temperature": 0, "num_predict": 6})

    replies = await asyncio.gather(*(ask(q) for q in questions))
    assert len(replies) == 8
    for reply in replies:
        assert reply.done and reply.message.content and reply.eval_count >= 1


@pytest.mark.timeout(240)
async def test_eight_parallel_streams_all_complete(server: str) -> None:
    client = ollama.AsyncClient(host=server)

    async def stream(n: int) -> str:
        parts = []
        async for part in await client.generate(MODEL, f"Count to {n}.", stream=True,
                                                options={"temperature": 0, "num_predict": 5}):
            parts.append(part)
        assert parts[-1].done
        return "".join(p.response for p in parts)

    texts = await asyncio.gather(*(stream(n) for n in range(8)))
    assert all(texts)


def _users(backend) -> int:  # type: ignore[no-untyped-def]
    return sum(r.users for r in backend.scheduler.residents())


def _wait_idle(backend, seconds: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _users(backend) == 0:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", ["/api/generate", "/v1/completions"])
def test_a_client_that_leaves_mid_stream_cancels_its_generation(server: str, backend, path: str) -> None:  # type: ignore[no-untyped-def]
    body = {"model": MODEL, "prompt": "Write a very long story.", "stream": True,
            "options": {"num_predict": 100_000, "temperature": 1}, "max_tokens": 100_000}
    with httpx.Client(timeout=30) as client, client.stream("POST", server + path, json=body) as response:
        lines = (line for line in response.iter_lines() if line)
        for _ in range(3):
            assert next(lines)
        assert _users(backend) == 1  # generating now
    assert _wait_idle(backend), "the generation went on after its client left"


@pytest.mark.timeout(60)
def test_a_client_that_leaves_a_non_streamed_request_cancels_it(server: str, backend) -> None:  # type: ignore[no-untyped-def]
    # greedy, this story runs to about 500 tokens: far more than a second's worth on a CPU (at temperature 1
    # it sometimes ended within the client's patience, and there was nothing left to cancel)
    body = {"model": MODEL, "prompt": "Write a very long story.", "stream": False,
            "options": {"num_predict": 100_000, "temperature": 0}}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server + "/api/generate", json=body, timeout=1.0)
    assert _wait_idle(backend), "the generation went on after its client left"


@pytest.mark.timeout(180)
async def test_answers_past_the_queue_limit_are_refused_busy_and_the_next_one_after_is_served(config) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    import openai
    from ember.backend.local.local_backend import LocalBackend

    from tests.api.conftest import running_server

    small = replace(config, num_parallel=1, max_loaded_models=1, max_queue=1)  # one decoding, one waiting
    backend = LocalBackend(small)
    try:
        with running_server(backend, small) as url:
            client = ollama.AsyncClient(host=url)
            long = {"temperature": 0, "num_predict": 200}
            first = await client.generate(MODEL, "Tell me a long story.", stream=True, options=long)
            await anext(first)  # decoding now
            waiting = asyncio.ensure_future(client.generate(MODEL, "Say hi.", options={"num_predict": 2}))
            while backend.admission.active < 2:
                await asyncio.sleep(0.01)
            with pytest.raises(ollama.ResponseError) as refused:
                await client.generate(MODEL, "Say hi.", options={"num_predict": 2})
            assert refused.value.status_code == 503 and "EMBER_MAX_QUEUE" in refused.value.error
            with pytest.raises(openai.InternalServerError, match="server busy"):  # the same on every route
                await openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0).chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2)
            async for _ in first:
                pass
            assert (await waiting).done
            assert (await client.generate(MODEL, "Say hi.", options={"num_predict": 2})).done
            assert backend.admission.active == 0
    finally:
        await backend.close()
