"""`ember serve` as a user runs it: the seed's curl example, a taken port, Ctrl-C."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import MODEL

SEED_EXAMPLE = """curl http://localhost:11434/api/generate -d '{"model": "smollm2:135m", "prompt": "Explain RAG pipelines"}'"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ember(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tui", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def served(models_dir: Path) -> Iterator[tuple[subprocess.Popen[str], int, dict[str, str]]]:
    port = _free_port()
    # the seed's request sets no num_predict: a small context bounds an answer the model never ends
    # (at most CONTEXT_FILLS x 256 tokens), so a slow machine finishes it well inside the timeout
    env = {**os.environ, "EMBER_MODELS": str(models_dir), "EMBER_NUM_THREAD": "2", "EMBER_CONTEXT_LENGTH": "256"}
    process = _ember("serve", "--listen", f"127.0.0.1:{port}", env=env)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).text == "Ollama is running":
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "ember serve did not start"
        time.sleep(0.1)
    yield process, port, env
    if process.poll() is None:
        process.kill()
        process.wait(10)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_seed_curl_example_streams_ndjson(served: tuple[subprocess.Popen[str], int, dict[str, str]]) -> None:
    _process, port, _env = served
    command = SEED_EXAMPLE.replace("11434", str(port))
    result = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=170)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    # how many pieces arrive together depends on speed; a stream is text lines, then one done line
    assert len(lines) >= 2 and all(line["model"] == MODEL for line in lines)
    assert not any(line["done"] for line in lines[:-1]) and lines[-1]["done"]
    assert "".join(line["response"] for line in lines).strip()
    assert lines[-1]["eval_count"] > 0 and lines[-1]["context"]
    assert lines[-1]["done_reason"] in {"stop", "context", "repetition"}


@pytest.mark.timeout(60)
def test_a_taken_port_is_one_clear_line(served: tuple[subprocess.Popen[str], int, dict[str, str]]) -> None:
    _process, port, env = served
    second = _ember("serve", "--listen", f"127.0.0.1:{port}", env=env)
    _out, err = second.communicate(timeout=50)
    assert second.returncode == 1
    assert err.strip().splitlines() == [err.strip()]
    assert "already in use" in err and str(port) in err and "Traceback" not in err


@pytest.mark.timeout(60)
def test_ctrl_c_stops_the_server_cleanly(served: tuple[subprocess.Popen[str], int, dict[str, str]]) -> None:
    process, port, _env = served
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 130  # the shell's code for "stopped by Ctrl-C", after a graceful shutdown
    _out, err = process.communicate()
    assert f"serving the Ollama API on http://127.0.0.1:{port}" in err and "Traceback" not in err
