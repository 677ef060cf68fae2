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
