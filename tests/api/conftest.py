"""The real server on a free loopback port, in a thread, in front of the session's LocalBackend; every body
it sends is checked against its wire model (tests/api/wirecheck.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from ember.backend.config import Config

MODEL = "smollm2:135m"
QUICK = {"temperature": 0, "num_predict": 8, "seed": 1}


@contextmanager
def running_server(backend, config: Config) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Serve `backend` with `config`'s security settings; yields the base URL."""
    import uvicorn
    from ember.backend.api.app import create_app
    from ember.backend.api.server import bind

    from tests.api.wirecheck import WireCheck

    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(WireCheck(create_app(backend, config)), log_level="warning",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(autouse=True)
def responses_match_their_wire_models() -> Iterator[None]:
    """Every body the test server sent during a test conforms to its model in backend/wire."""
    from tests.api.wirecheck import DRIFT

    DRIFT.clear()
    yield
    drifted, DRIFT[:] = list(DRIFT), []
    assert not drifted, "responses drifted from their wire models:\n" + "\n".join(drifted)


@pytest.fixture(scope="session")
def server(backend, config: Config) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with running_server(backend, config) as url:
        yield url


@pytest.fixture(scope="session")
def secured(backend, config: Config) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A second server on the same backend with an API key, an allowed name and an allowed origin."""
    settings = replace(config, api_key="sesame", origins=("https://app.example",),
                       allowed_hosts=("ember.lan",))
    with running_server(backend, settings) as url:
        yield url


@pytest.fixture(scope="session")
def ollama_client(server: str):  # type: ignore[no-untyped-def]
    import ollama

    return ollama.Client(host=server)


@pytest.fixture(scope="session")
def openai_client(server: str):  # type: ignore[no-untyped-def]
    import openai

    return openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0)
