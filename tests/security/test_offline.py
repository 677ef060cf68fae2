"""The offline promise: chatting and serving open no connection beyond this machine.

Every socket operation of the real `ember run` and `ember serve` processes is recorded by an audit
hook (tests/security/audited.py) and checked to be loopback; where this user may create a network
namespace, the same commands also run inside one with no route out at all.
"""

from __future__ import annotations

import ast
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from ember.backend.pull.register import register_gguf
from ember.backend.store.modelstore import ModelStore
from ember.backend.store.names import parse_name

MODEL = "smollm2:135m"
SHORT = "sec/short"  # smollm2 with short answers, so a chat through the CLI ends quickly
ROOT = Path(__file__).parents[2]


@pytest.fixture
def home(tmp_path: Path, smollm2_gguf: Path) -> Path:
    from ember.backend.models.create import create_model

    store = ModelStore(tmp_path / "models")
    register_gguf(store, parse_name(MODEL), smollm2_gguf)
    for _ in create_model(store, parse_name(SHORT), f"FROM {MODEL}\nPARAMETER num_predict 6\n", None):
        pass
    return tmp_path


def env_for(home: Path) -> dict[str, str]:
    """The user's environment with nothing that would keep ember offline for it (no HF_HUB_OFFLINE)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMBER_", "HF_"))}
    return {**env, "EMBER_MODELS": str(home / "models"), "EMBER_DATA": str(home / "data"),
            "EMBER_CONFIG": str(home / "config"), "PYTHONPATH": str(ROOT)}


def audited(home: Path, log: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tests.security.audited", str(log), "--", *args]


def records(log: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _loopback(host: object) -> bool:
    if host in (None, "localhost", "") or (isinstance(host, str) and host.endswith(".localhost")):
        return True
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


def beyond_loopback(found: list[dict[str, str]]) -> list[dict[str, str]]:
    outside = []
    for record in found:
        if record.get("family") == "AF_UNIX":
            continue
        address = ast.literal_eval(record["address"])
        host = address[0] if isinstance(address, tuple) else address
        if not _loopback(host.decode() if isinstance(host, bytes) else host):
            outside.append(record)
    return outside


def test_the_audit_sees_a_connection_beyond_loopback(tmp_path: Path) -> None:
    """The check below would catch a leak: a connect to a public address is recorded."""
    log = tmp_path / "sockets.jsonl"
    code = ("from tests.security.audited import record_to; import sys, socket; record_to(sys.argv[1]); "
            "s = socket.socket(); s.setblocking(False); s.connect_ex(('192.0.2.1', 80))")
    subprocess.run([sys.executable, "-c", code, str(log)], cwd=ROOT, check=True, timeout=30)
    assert [r["address"] for r in beyond_loopback(records(log))] == ["('192.0.2.1', 80)"]


@pytest.mark.timeout(120)
def test_chat_opens_no_connection_beyond_loopback(home: Path) -> None:
    log = home / "sockets.jsonl"
    env = env_for(home)
    run = subprocess.run(audited(home, log, "run", SHORT, "Say hi.", "--keepalive", "0"), env=env,
                         capture_output=True, text=True, timeout=120, cwd=home)
    assert run.returncode == 0 and run.stdout.strip(), run.stderr
    piped = subprocess.run(audited(home, log, "run", SHORT), input="What is 2+2?\n", env=env,
                           capture_output=True, text=True, timeout=120, cwd=home)
    assert piped.returncode == 0 and piped.stdout.strip(), piped.stderr
    for verb in (["list"], ["show", MODEL], ["ps"]):
        assert subprocess.run(audited(home, log, *verb), env=env, capture_output=True, timeout=60,
                              cwd=home).returncode == 0
    assert beyond_loopback(records(log)) == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.timeout(120)
def test_serve_opens_no_connection_beyond_loopback(home: Path) -> None:
    log = home / "sockets.jsonl"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(audited(home, log, "serve", "--listen", f"127.0.0.1:{port}"), env=env_for(home),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=home)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/api/version", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "ember serve did not start"
            time.sleep(0.2)
        chat = [{"role": "user", "content": "Say hi."}]
        quick = {"num_predict": 4, "temperature": 0}
        for method, path, body in [
            ("POST", "/api/chat", {"model": MODEL, "messages": chat, "stream": False, "options": quick}),
            ("POST", "/api/generate", {"model": MODEL, "prompt": "Say hi.", "options": quick}),
            ("POST", "/v1/chat/completions", {"model": MODEL, "messages": chat, "max_tokens": 4}),
            ("POST", "/api/embed", {"model": MODEL, "input": "hello"}),
            ("POST", "/api/show", {"model": MODEL}), ("GET", "/api/tags", None), ("GET", "/api/ps", None),
            ("POST", "/api/pull", {"model": MODEL, "stream": False}),
        ]:
            response = httpx.request(method, url + path, json=body, timeout=60)
            assert response.status_code == 200, f"{path}: {response.text[:200]}"
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(20)
    assert beyond_loopback(records(log)) == []


def _netns() -> list[str]:
    if not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("unshare and ip are needed for a network namespace")
    probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        pytest.skip(f"this user may not create a network namespace ({probe.stderr.decode().strip()})")
    return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "netns"]


SERVE_AND_CHAT = """
import subprocess, sys, time, httpx
server = subprocess.Popen([sys.executable, "-m", "tui", "serve", "--listen", "127.0.0.1:11434"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(300):
        try:
            httpx.get("http://127.0.0.1:11434/api/version", timeout=1); break
        except httpx.HTTPError:
            time.sleep(0.2)
    reply = httpx.post("http://127.0.0.1:11434/api/chat", timeout=60, json={"model": "smollm2:135m",
        "stream": False, "messages": [{"role": "user", "content": "Say hi."}], "options": {"num_predict": 4}})
    print(reply.status_code, reply.json()["message"]["content"] != "")
    offline = httpx.post("http://127.0.0.1:11434/api/pull", timeout=60,
                         json={"model": "hf.co/someone/model-GGUF", "stream": False})
    print(offline.status_code)
finally:
    server.terminate(); server.wait(20)
"""


@pytest.mark.timeout(120)
def test_chat_and_serve_work_in_a_network_namespace_with_no_route_out(home: Path) -> None:
    netns = _netns()
    env = env_for(home)
    run = subprocess.run([*netns, sys.executable, "-m", "tui", "run", SHORT, "Say hi.", "--keepalive", "0"],
                         env=env, capture_output=True, text=True, timeout=120, cwd=home)
    assert run.returncode == 0 and run.stdout.strip(), run.stderr
    served = subprocess.run([*netns, sys.executable, "-c", SERVE_AND_CHAT], env=env, capture_output=True,
                            text=True, timeout=120, cwd=home)
    assert served.returncode == 0, served.stderr
    assert served.stdout.split() == ["200", "True", "503"]  # a pull says it is offline; chat never notices
