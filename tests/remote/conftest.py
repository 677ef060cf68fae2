"""Real remote servers on loopback ports: llama-cpp-python's own OpenAI-compatible server (not written
here), `ember serve` in a subprocess, and an endpoint that accepts connections and never answers.

Each llama-cpp-python server loads the 98 MB model in about a second; the plain and the keyed one
are shared by the whole session, and a test that kills a server starts its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

MODEL = "smollm2:135m"  # the alias the llama-cpp-python server serves the SmolLM2 GGUF under
KEY = "sesame-remote-key"
QUICK = {"temperature": 0, "num_predict": 8, "seed": 1}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(process: subprocess.Popen, url: str, headers: dict[str, str], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, headers=headers, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not start in 60 s:\n{log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def llama_cpp_server(gguf: Path, log_dir: Path, api_key: str = "") -> Iterator[tuple[str, subprocess.Popen]]:
    """`python -m llama_cpp.server` on a free loopback port; yields (base URL, process)."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL,
               "--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_ctx", "2048",
               "--embedding", "true"]
    if api_key:
        command += ["--api_key", api_key]
    log = log_dir / f"llama-cpp-server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, url + "/v1/models", {"Authorization": f"Bearer {api_key}"} if api_key else {}, log)
        yield url, process
    finally:
        _stop(process)


@contextmanager
def ember_serve(env: dict[str, str], log_dir: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`ember serve` in its own process (so a test can kill it); yields (base URL, process)."""
    port = free_port()
    log = log_dir / f"ember-serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "tui", "serve", "--listen", f"127.0.0.1:{port}"],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, url + "/api/version", {}, log)
        yield url, process
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def openai_server(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's server without a key: the base URL, http://127.0.0.1:PORT."""
    with llama_cpp_server(smollm2_gguf, tmp_path_factory.mktemp("llama-cpp-server")) as (url, _):
        yield url


@pytest.fixture(scope="session")
def keyed_server(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's server started with --api_key KEY."""
    with llama_cpp_server(smollm2_gguf, tmp_path_factory.mktemp("llama-cpp-keyed"), api_key=KEY) as (url, _):
        yield url


@pytest.fixture(scope="session")
def ember_server(backend, config) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """ember's own API (Ollama-compatible) in front of the session's LocalBackend."""
    from tests.api.conftest import running_server

    with running_server(backend, config) as url:
        yield url


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A socket that accepts connections and never says anything: host:port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        for connection in accepted:
            connection.close()
        listener.close()


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment for running `ember` in a subprocess with a private config directory."""
    env = {**os.environ, "EMBER_CONFIG": str(tmp_path / "config"), **extra}
    env.pop("EMBER_HOST", None)
    env.pop("EMBER_API_KEY", None)
    env.update(extra)
    return env


def ember(args: list[str], env: dict[str, str], stdin: str | None = None,
          timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=timeout)
