"""Hostile and broken requests: each gets a clear 4xx, the server stays up, no request exhausts memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import MODEL, QUICK

CHAT = [{"role": "user", "content": "hi"}]


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    message = body["error"] if isinstance(body["error"], str) else body["error"]["message"]
    assert message and "Traceback" not in message and "internal error" not in message
    return message


@pytest.fixture(autouse=True, scope="module")
def still_answers(server: str) -> Iterator[None]:
    """After the attacks the server still answers a normal request (a crash would end the run itself)."""
    yield
    body = {"model": MODEL, "prompt": "Say hi.", "stream": False, "options": QUICK}
    response = httpx.post(server + "/api/generate", json=body, timeout=60)
    assert response.status_code == 200 and response.json()["done"]


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:11434", "localhost.attacker.example",
                                  "127.0.0.1.nip.io:11434", "LOCALHOST.evil"])
def test_a_foreign_host_header_is_refused(server: str, host: str) -> None:
    for method, path in [("GET", "/api/tags"), ("POST", "/api/chat"), ("POST", "/v1/chat/completions"),
                         ("DELETE", "/api/delete"), ("GET", "/")]:
        response = httpx.request(method, server + path, headers={"Host": host}, json={"model": MODEL})
        assert "EMBER_ALLOWED_HOSTS" in _error(response, 403)


def test_an_oversized_body_is_a_413_with_or_without_a_length(server: str) -> None:
    big = b'{"model": "x", "prompt": "' + b"a" * (33 << 20) + b'"}'
    assert "MiB" in _error(httpx.post(server + "/api/chat", content=big, timeout=60), 413)

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to refuse it by
        yield b'{"model": "x", "prompt": "'
        for _ in range(34):
            yield b"a" * (1 << 20)
        yield b'"}'

    assert "MiB" in _error(httpx.post(server + "/v1/completions", content=chunks(), timeout=60), 413)


@pytest.mark.parametrize(("body", "words"), [
    (b'{"model": "smollm2:135m", "options": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    (b'{"model": "smollm2:135m", "messages": ' + b'{"a":' * 20_000 + b"1" + b"}" * 20_000 + b"}", "nested"),
    (b'{"model": "smollm2:135m", "prompt": "\xff\xfe caf\xe9"}', "not valid UTF-8"),
    (b'{"model": "smollm2:135m", "prompt": "\xc3"}', "not valid UTF-8"),
    (b'{"model": "smollm2:135m", "prompt": "x", "options": {"seed": ' + b"9" * 5000 + b"}}", "could not be read"),
    (b'{"model": "smollm2:135m", "prompt": "x"', "invalid JSON"),
    (b"\x00\x01\x02", "invalid JSON"),
], ids=["deep-list", "deep-object", "latin-1", "truncated-utf8", "huge-int", "unterminated", "binary"])
def test_bodies_that_cannot_be_read_are_a_clear_400(server: str, body: bytes, words: str) -> None:
    for path in ["/api/generate", "/api/chat", "/v1/chat/completions"]:
        assert words in _error(httpx.post(server + path, content=body, timeout=60), 400)


def test_deeply_nested_values_that_parse_are_refused_not_crashed(server: str) -> None:
    schema: dict = {"type": "string"}
    for _ in range(100):
        schema = {"type": "object", "properties": {"a": schema}, "required": ["a"]}
    response = httpx.post(server + "/api/generate", json={"model": MODEL, "prompt": "x", "format": schema,
                                                          "stream": False, "options": {"num_predict": 1}}, timeout=60)
    assert response.status_code in (200, 400), response.text[:300]
    tools = [{"type": "function", "function": {"name": "f", "parameters": schema}}]
    response = httpx.post(server + "/api/chat", json={"model": MODEL, "messages": CHAT, "tools": tools,
                                                      "stream": False, "options": {"num_predict": 1}}, timeout=60)
    assert response.status_code in (200, 400), response.text[:300]


@pytest.mark.parametrize("text", ['"\\ud800"', '"a\\udfffb"', '"\\udbff\\u0041"'])
def test_text_that_is_not_unicode_is_a_400(server: str, text: str) -> None:
    raw = text.encode()
    bodies = [
        ("/api/generate", b'{"model": "smollm2:135m", "stream": false, "prompt": ' + raw + b"}"),
        ("/api/chat", b'{"model": "smollm2:135m", "stream": false, "messages": [{"role": "user", "content": '
         + raw + b"}]}"),
        ("/api/embed", b'{"model": "smollm2:135m", "input": [' + raw + b"]}"),
        ("/v1/chat/completions", b'{"model": "smollm2:135m", "messages": [{"role": "user", "content": '
         + raw + b"}]}"),
    ]
    for path, body in bodies:
        assert "not valid Unicode" in _error(httpx.post(server + path, content=body, timeout=60), 400)


@pytest.mark.parametrize(("options", "words"), [
    ({"num_ctx": 10**9}, "num_ctx must be at most"),
    ({"num_ctx": -1}, "num_ctx must be at least"),
    ({"num_ctx": 0}, "num_ctx must be at least"),
    ({"num_predict": 10**12}, "num_predict must be at most"),
    ({"num_predict": -100}, "num_predict must be at least"),
    ({"num_batch": 10**9}, "num_batch"),
    ({"num_thread": 10**6}, "num_thread"),
    ({"num_gpu": 10**9}, "num_gpu"),
    ({"top_k": -5}, "top_k"),
    ({"repeat_last_n": 10**12}, "repeat_last_n"),
    ({"seed": 10**30}, "seed"),
    ({"temperature": "NaN"}, "temperature"),
    ({"stop": [1, 2]}, "stop"),
    ({"num_ctx": 4096.5}, "num_ctx"),
    ({"mirostat": 99}, "mirostat"),
])
def test_absurd_options_are_a_clear_400(server: str, options: dict, words: str) -> None:
    body = {"model": MODEL, "prompt": "x", "stream": False, "options": options}
    assert words in _error(httpx.post(server + "/api/generate", json=body, timeout=60), 400)


@pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_are_a_400(server: str, raw: bytes) -> None:
    generate = b'{"model": "smollm2:135m", "prompt": "x", "options": {"temperature": ' + raw + b"}}"
    assert "temperature" in _error(httpx.post(server + "/api/generate", content=generate), 400)
    chat = (b'{"model": "smollm2:135m", "messages": [{"role": "user", "content": "x"}], "top_p": '
            + raw + b"}")
    assert "top_p" in _error(httpx.post(server + "/v1/chat/completions", content=chat), 400)
    keep = b'{"model": "smollm2:135m", "prompt": "", "keep_alive": ' + raw + b"}"
    response = httpx.post(server + "/api/generate", content=keep)
    if raw == b"NaN":
        assert "keep_alive" in _error(response, 400)
    else:
        assert response.status_code == 200  # past any clock is "forever", as Ollama reads it
    assert httpx.get(server + "/api/ps").status_code == 200


def test_openai_limits_are_checked_the_same_way(server: str) -> None:
    body = {"model": MODEL, "messages": CHAT, "max_tokens": 10**12}
    assert "num_predict" in _error(httpx.post(server + "/v1/chat/completions", json=body), 400)
    body = {"model": MODEL, "messages": CHAT, "temperature": -1}
    assert "temperature" in _error(httpx.post(server + "/v1/chat/completions", json=body), 400)


def test_a_context_of_token_ids_the_model_lacks_is_a_400(server: str) -> None:
    for context in ([10**12], [-5], [1, 2, 49152], [2**31]):
        body = {"model": MODEL, "prompt": "x", "stream": False, "context": context, "options": QUICK}
        assert "token id" in _error(httpx.post(server + "/api/generate", json=body, timeout=60), 400)


def test_a_num_ctx_past_what_the_model_was_trained_for_is_cut_to_it(server: str) -> None:
    body = {"model": MODEL, "prompt": "Say hi.", "stream": False, "options": {**QUICK, "num_ctx": 1 << 20}}
    response = httpx.post(server + "/api/generate", json=body, timeout=120)
    assert response.status_code == 200, response.text
    running = httpx.get(server + "/api/ps").json()["models"]
    assert [m["context_length"] for m in running if m["name"] == MODEL] == [8192]  # SmolLM2's own


def test_a_context_that_cannot_fit_in_memory_is_a_400_not_an_out_of_memory(
        server: str, backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A model whose KV cache at its own context length needs terabytes: refused before llama.cpp allocates."""
    import asyncio

    import gguf
    import numpy as np

    path = tmp_path / "huge-context.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(1 << 20)
    writer.add_embedding_length(16384)
    writer.add_block_count(200)
    writer.add_head_count(128)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    async def create() -> None:
        async for _ in backend.create("sec/huge-context", f"FROM {path}\n", base_dir=str(tmp_path)):
            pass

    asyncio.run(create())
    try:
        for options in ({}, {"num_ctx": 1 << 20}, {"num_ctx": 200_000}):
            body = {"model": "sec/huge-context", "prompt": "x", "stream": False, "options": options}
            message = _error(httpx.post(server + "/api/generate", json=body, timeout=60), 400)
            assert "GiB of memory" in message and "lower num_ctx" in message
        assert "sec/huge-context:latest" not in json.dumps(httpx.get(server + "/api/ps").json())
    finally:
        httpx.request("DELETE", server + "/api/delete", json={"model": "sec/huge-context"})
