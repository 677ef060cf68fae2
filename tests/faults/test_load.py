"""A short version of bench/load.py: many clients at once, every request right, no slot left busy."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bench.load import KINDS, run_load
from tests.faults.conftest import MODEL
from tests.faults.test_disconnect import wait_idle


@pytest.mark.timeout(120)
def test_twenty_clients_for_six_seconds_get_no_errors(server: str, backend) -> None:  # type: ignore[no-untyped-def]
    result = asyncio.run(run_load(server, MODEL, clients=20, seconds=6, num_predict=1))
    print(f"{result.requests} requests in {result.seconds:.1f} s")
    assert result.errors == []
    assert all(result.latencies[kind] for kind in KINDS), {k: len(v) for k, v in result.latencies.items()}
    assert wait_idle(backend), "a slot stayed busy after the load"
    reply = httpx.post(server + "/api/generate", timeout=60, json={
        "model": MODEL, "prompt": "hi", "stream": False, "options": {"num_predict": 2}})
    assert reply.status_code == 200 and reply.json()["done"]
