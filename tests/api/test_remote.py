"""RemoteBackend drives the real server through the same Backend interface as LocalBackend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ember.backend.errors import EmberError, InvalidRequest, ModelNotFound
from ember.backend.remote.address import server_url
from ember.backend.remote.ollama_backend import RemoteBackend, server_answers
from ember.backend.types import ChatRequest, GenerateRequest, Message

from tests.api.conftest import MODEL, QUICK


@pytest.mark.parametrize(("address", "url"), [
    ("127.0.0.1:11434", "http://127.0.0.1:11434"), (":8080", "http://127.0.0.1:8080"),
    ("example.com", "http://example.com:11434"), ("https://example.com", "https://example.com:443"),
    ("0.0.0.0:11434", "http://127.0.0.1:11434"), ("[::1]:9", "http://[::1]:9"),
])
def test_server_addresses_as_ollama_host_accepts_them(address: str, url: str) -> None:
    assert server_url(address) == url


async def test_models_through_the_remote_backend(server: str) -> None:
    remote = RemoteBackend(server)
    try:
        names = [m.name for m in await remote.list_models()]
        assert MODEL in names
        info = await remote.show(MODEL)
        assert info.details.family == "llama" and "completion" in info.capabilities
        await remote.copy(MODEL, "remote-copy:test")
        assert "remote-copy:test" in [m.name for m in await remote.list_models()]
        await remote.delete("remote-copy:test")
        with pytest.raises(ModelNotFound):
            await remote.show("remote-copy:test")
        events = [e async for e in remote.pull(MODEL)]
        assert events[-1].status == "success"
    finally:
        await remote.close()


async def test_chat_generate_embed_through_the_remote_backend(server: str) -> None:
    remote = RemoteBackend(server)
    try:
        chunks = [c async for c in remote.chat(ChatRequest(MODEL, [Message("user", "Hi")], options=QUICK))]
        assert chunks[-1].done and chunks[-1].timings and chunks[-1].timings.eval_count >= 1
        assert "".join(c.text for c in chunks).strip()
        answer = [c async for c in remote.generate(GenerateRequest(MODEL, "Hi", options=QUICK))]
        assert answer[-1].context
        vectors = await remote.embed(MODEL, ["a", "b"])
        assert len(vectors) == 2 and len(vectors[0]) == 576
        await remote.load(MODEL, keep_alive=-1)
        assert MODEL in [m.name for m in await remote.running()]
        with pytest.raises(InvalidRequest, match="temprature"):
            [c async for c in remote.chat(ChatRequest(MODEL, [Message("user", "x")], options={"temprature": 1}))]
        with pytest.raises(ModelNotFound):
            [c async for c in remote.generate(GenerateRequest("nope:1b", "x"))]
    finally:
        await remote.close()


async def test_an_unreachable_server_is_one_clear_error() -> None:
    remote = RemoteBackend("127.0.0.1:9")
    with pytest.raises(EmberError, match="cannot reach the server"):
        await remote.list_models()
    await remote.close()
    assert not server_answers("127.0.0.1:9")


def test_the_cli_uses_ember_host_when_a_server_answers(server: str, tmp_path: Path) -> None:
    env = {**os.environ, "EMBER_MODELS": str(tmp_path / "empty"), "EMBER_HOST": server.removeprefix("http://")}
    listed = subprocess.run([sys.executable, "-m", "tui", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert MODEL in listed.stdout  # the local store is empty: the list came from the server
    env["EMBER_HOST"] = "127.0.0.1:9"  # nothing answers there: the local store is used
    local = subprocess.run([sys.executable, "-m", "tui", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert local.returncode == 0 and MODEL not in local.stdout


async def test_create_through_the_remote_backend_sends_ollamas_fields(server: str) -> None:
    from ember.backend.remote.ollama_backend import create_body

    modelfile = f'FROM {MODEL}\nSYSTEM """You are terse."""\nPARAMETER temperature 0.2\nPARAMETER stop "<end>"\n'
    body = create_body("terse:remote", modelfile)
    # what Ollama reads since 0.5.5, and the Modelfile itself for older servers
    assert body["from"] == MODEL and body["system"] == "You are terse." and body["modelfile"] == modelfile
    assert body["parameters"] == {"temperature": 0.2, "stop": ["<end>"]}
    remote = RemoteBackend(server)
    try:
        events = [e async for e in remote.create("terse:remote", modelfile)]
        assert events[-1].status == "success"
        made = await remote.show("terse:remote")
        assert made.system == "You are terse." and made.parameters["temperature"] == 0.2
        await remote.delete("terse:remote")
        # the fields alone, as a server newer than 0.5.5 reads them, build the same model
        import httpx

        fields = {k: v for k, v in body.items() if k != "modelfile"} | {"stream": False}
        assert httpx.post(f"{server}/api/create", json=fields, timeout=60).json()["status"] == "success"
        again = await remote.show("terse:remote")
        assert (again.system, again.parameters) == (made.system, made.parameters)
        await remote.delete("terse:remote")
        with pytest.raises(EmberError, match="names a file on this machine"):
            [e async for e in remote.create("local:file", "FROM ./model.gguf\n")]
    finally:
        await remote.close()


async def test_create_through_the_remote_backend_uploads_a_local_gguf(server: str, smollm2_gguf: Path,
                                                                      tmp_path: Path) -> None:
    from ember.backend.remote.ollama_backend import create_body

    (tmp_path / "mine.gguf").write_bytes(smollm2_gguf.read_bytes() + b"\0" * 128)  # a file the server lacks
    modelfile = 'FROM ./mine.gguf\nSYSTEM """Uploaded."""\n'
    body = create_body("mine:remote", modelfile, "sha256:" + "a" * 64)
    assert body["files"] == {"mine.gguf": "sha256:" + "a" * 64} and "from" not in body
    assert body["modelfile"].startswith("FROM @sha256:")  # what servers older than 0.5.5 read
    remote = RemoteBackend(server)
    try:
        events = [e async for e in remote.create("mine:remote", modelfile, base_dir=str(tmp_path))]
        assert any(e.status.startswith("uploading mine.gguf") for e in events)
        assert events[-1].status == "success"
        made = await remote.show("mine:remote")
        assert made.system == "Uploaded." and made.details.family == "llama"
        again = [e async for e in remote.create("mine:remote", modelfile, base_dir=str(tmp_path))]
        assert not any(e.status.startswith("uploading") for e in again)  # the server has it already
        await remote.delete("mine:remote")
        with pytest.raises(EmberError, match="no such file"):
            [e async for e in remote.create("x:remote", "FROM ./absent.gguf\n", base_dir=str(tmp_path))]
    finally:
        await remote.close()
