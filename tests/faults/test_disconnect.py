"""Clients that leave mid-stream, or while they wait their turn, leave no slot busy and no request queued."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.faults.conftest import MODEL

LONG = {"num_predict": 100_000, "temperature": 1.0}


def busy(backend) -> int:  # type: ignore[no-untyped-def]
    """Users of the loaded models plus the sequences their batch loops are still decoding."""
    total = 0
    for resident in backend.scheduler.residents():
        loop = getattr(resident.runner, "loop", None)
        total += resident.users + (loop.active() if loop is not None else 0)
    return total


def wait_idle(backend, seconds: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if busy(backend) == 0:
            return True
        time.sleep(0.05)
    return False


async def _leave_after(client: httpx.AsyncClient, path: str, body: dict, lines: int) -> None:
    async with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        seen = 0
        async for line in response.aiter_lines():
            seen += bool(line.strip())
            if seen >= lines:
                return  # closing the stream here drops the connection mid-answer


async def _leave_while_queued(server: str, body: dict) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=0.3) as client:
        try:
            await client.post("/api/generate", json=body)
        except httpx.TimeoutException:
            pass


@pytest.mark.timeout(120)
def test_clients_leaving_mid_stream_and_in_the_queue_leave_no_stuck_slot(server: str, backend) -> None:  # type: ignore[no-untyped-def]
    story = "Write a very long story about the sea."
    chat = [{"role": "user", "content": story}]
    streams = [
        ("/api/generate", {"model": MODEL, "prompt": story, "options": LONG}),
        ("/api/chat", {"model": MODEL, "messages": chat, "options": LONG}),
        ("/v1/chat/completions", {"model": MODEL, "messages": chat, "stream": True, "max_tokens": 100_000}),
        ("/v1/completions", {"model": MODEL, "prompt": story, "stream": True, "max_tokens": 100_000}),
    ]

    async def storm() -> None:
        async with httpx.AsyncClient(base_url=server, timeout=60) as client:
            leaving = [_leave_after(client, path, body, lines) for path, body in streams for lines in (1, 3)]
            queued = [_leave_while_queued(server, {"model": MODEL, "prompt": f"{story} {n}", "stream": False,
                                                   "options": LONG}) for n in range(4)]
            await asyncio.gather(*leaving, *queued)

    asyncio.run(storm())
    assert wait_idle(backend), f"{busy(backend)} sequences still busy after every client left"
    replies = [httpx.post(server + "/api/generate", timeout=60, json={
        "model": MODEL, "prompt": f"Say {n}.", "stream": False, "options": {"num_predict": 3}}) for n in range(2)]
    assert all(r.status_code == 200 and r.json()["done"] for r in replies)
    assert wait_idle(backend)
