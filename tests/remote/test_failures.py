"""Remote failures are one line each: a server killed mid-answer (the partial answer kept), a silent
endpoint (start-up never waits on it), a refused connection (retried with backoff before the first byte)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from ember.backend.errors import RemoteError
from ember.backend.remote.detect import answers
from ember.backend.remote.ollama_backend import RemoteBackend
from ember.backend.remote.openai_backend import OpenAIBackend
from ember.tui.chat.session import ChatSession, ChatState

from tests.remote.conftest import MODEL, cli_env, ember, ember_serve, free_port, llama_cpp_server

LONG = {"temperature": 0, "num_predict": 400, "seed": 1}
STORY = "Write a long story about a dragon who learns to bake bread, with many chapters."


async def _kill_mid_answer(session: ChatSession, process) -> list[str]:  # type: ignore[no-untyped-def]
    """Stream an answer, kill the server after a few pieces; returns the pieces that arrived."""
    pieces: list[str] = []
    with pytest.raises(RemoteError) as caught:
        async for chunk in session.send(STORY):
            pieces.append(chunk.text)
            if len(pieces) == 4:
                process.kill()
    message = str(caught.value)
    assert "closed the connection in the middle of the answer" in message and "\n" not in message
    return pieces


@pytest.mark.timeout(90)
async def test_an_openai_server_killed_mid_stream_keeps_the_partial_answer(smollm2_gguf: Path, tmp_path: Path) -> None:
    with llama_cpp_server(smollm2_gguf, tmp_path) as (url, process):
        remote = OpenAIBackend(url, retries=1)
        session = ChatSession(remote, ChatState(model=MODEL, options=dict(LONG)))
        try:
            pieces = await _kill_mid_answer(session, process)
        finally:
            await remote.close()
    messages = session.state.messages
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].content == "".join(pieces) and len(pieces) >= 4


@pytest.mark.timeout(90)
async def test_ember_serve_killed_mid_stream_keeps_the_partial_answer(models_dir: Path, tmp_path: Path) -> None:
    with ember_serve({**os.environ, "EMBER_NUM_THREAD": "1"}, tmp_path) as (url, process):
        remote = RemoteBackend(url, retries=1)
        session = ChatSession(remote, ChatState(model=MODEL, options=dict(LONG)))
        try:
            pieces = await _kill_mid_answer(session, process)
        finally:
            await remote.close()
    assert session.state.messages[-1].role == "assistant"
    assert session.state.messages[-1].content == "".join(pieces)


async def _forward(upstream: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    host, port = upstream.removeprefix("http://").split(":")
    up_reader, up_writer = await asyncio.open_connection(host, int(port))

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
        sink.close()

    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)


async def test_a_refused_connection_is_retried_with_backoff_before_the_first_byte(openai_server: str) -> None:
    port = free_port()  # nothing listens here yet: connections are refused
    without_retries = OpenAIBackend(f"127.0.0.1:{port}", retries=1)
    with pytest.raises(RemoteError, match=r"cannot reach .*connection refused.* is it running"):
        await without_retries.list_models()
    await without_retries.close()

    async def open_late() -> asyncio.Server:  # a server that comes up while the client backs off
        await asyncio.sleep(0.3)
        return await asyncio.start_server(lambda r, w: _forward(openai_server, r, w), "127.0.0.1", port)

    late = asyncio.create_task(open_late())
    remote = OpenAIBackend(f"127.0.0.1:{port}", retries=4)  # waits 0.2, 0.4, 0.8 s between attempts
    try:
        assert [m.name for m in await remote.list_models()] == [MODEL]
    finally:
        await remote.close()
        server = await late
        server.close()


@pytest.mark.timeout(60)
def test_a_silent_endpoint_does_not_hold_up_the_command_line(silent_endpoint: str, tmp_path: Path) -> None:
    assert answers(silent_endpoint) is None  # EMBER_HOST's check gives up after half a second
    env = cli_env(tmp_path, EMBER_HOST=silent_endpoint, EMBER_MODELS=str(tmp_path / "empty"))
    listed = ember(["list"], env, timeout=30)
    assert listed.returncode == 0 and listed.stdout.startswith("NAME"), listed.stderr  # this machine's (empty) list
    explicit = ember(["--host", silent_endpoint, "list"], {**env, "EMBER_REMOTE_TIMEOUT": "1"}, timeout=30)
    assert explicit.returncode == 1
    assert explicit.stderr.startswith("Error: cannot reach the server") and explicit.stderr.count("\n") == 1


def test_an_unreachable_host_is_one_line(tmp_path: Path) -> None:
    result = ember(["--host", f"127.0.0.1:{free_port()}", "run", MODEL, "hi"], cli_env(tmp_path), timeout=30)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "cannot reach the server" in result.stderr and "connection refused" in result.stderr
