"""Every failure is JSON in Ollama's shape with the right status: never HTML, never a traceback."""

from __future__ import annotations

import httpx
import ollama
import pytest

from tests.api.conftest import MODEL

INFERENCE = ["/api/generate", "/api/chat", "/api/embed", "/api/embeddings"]
MODEL_CALLS = [("POST", "/api/show"), ("DELETE", "/api/delete"), ("POST", "/api/pull"),
               ("POST", "/api/generate"), ("POST", "/api/chat"), ("POST", "/api/embed"),
               ("POST", "/api/embeddings"), ("POST", "/api/create"), ("POST", "/api/copy")]


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text and "<html" not in response.text.lower()
    message = response.json()["error"]
    assert isinstance(message, str) and message
    return message


@pytest.mark.parametrize("path", [path for _, path in MODEL_CALLS])
def test_malformed_json_is_a_400(server: str, path: str) -> None:
    method = "DELETE" if path == "/api/delete" else "POST"
    message = _error(httpx.request(method, server + path, content=b'{"model": "x", '), 400)
    assert "JSON" in message


@pytest.mark.parametrize("path", INFERENCE + ["/api/show", "/api/pull", "/api/create"])
def test_missing_body_is_a_400(server: str, path: str) -> None:
    _error(httpx.post(server + path), 400)


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/generate", {"model": MODEL, "prompt": 5}, "prompt"),
    ("/api/generate", {"model": MODEL, "prompt": "x", "stream": "yes"}, "stream"),
    ("/api/generate", {"model": MODEL, "prompt": "x", "options": []}, "options"),
    ("/api/generate", {"model": MODEL, "prompt": "x", "context": ["a"]}, "context"),
    ("/api/chat", {"model": MODEL, "messages": "hello"}, "messages"),
    ("/api/chat", {"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, "role"),
    ("/api/chat", {"model": MODEL, "messages": [{"role": "user", "content": 7}]}, "content"),
    ("/api/embed", {"model": MODEL, "input": 42}, "input"),
    ("/api/show", {"model": 3}, "model"),
    ("/api/copy", {"source": MODEL}, "destination"),
    ("/api/generate", {"prompt": "x"}, "model"),
])
def test_wrong_types_are_a_400_naming_the_field(server: str, path: str, body: dict, field: str) -> None:
    assert field in _error(httpx.post(server + path, json=body), 400)


@pytest.mark.parametrize("path", ["/api/generate", "/api/chat"])
def test_unknown_option_is_a_400_that_names_it(server: str, path: str) -> None:
    body = {"model": MODEL, "prompt": "x", "messages": [{"role": "user", "content": "x"}],
            "options": {"temprature": 0.1}}
    message = _error(httpx.post(server + path, json=body), 400)
    assert "temprature" in message and "temperature" in message


@pytest.mark.parametrize(("option", "value"), [("num_predict", "many"), ("temperature", -1), ("top_p", 3)])
def test_bad_option_values_are_a_400(server: str, option: str, value: object) -> None:
    body = {"model": MODEL, "prompt": "x", "options": {option: value}}
    assert option in _error(httpx.post(server + "/api/generate", json=body), 400)


@pytest.mark.parametrize(("method", "path"), MODEL_CALLS)
def test_unknown_model_is_a_404(server: str, method: str, path: str) -> None:
    body = {"model": "no-such-model:1b", "prompt": "x", "input": "x", "messages": [{"role": "user", "content": "x"}],
            "from": "no-such-model:1b", "source": "no-such-model:1b", "destination": "other:1b", "stream": False}
    response = httpx.request(method, server + path, json=body)
    if path == "/api/pull":  # asked of registry.ollama.ai: 404 from it, 503 where it cannot be reached
        status = 503 if "offline" in response.text else 404
    else:  # a FROM naming no model is a bad Modelfile
        status = 400 if path == "/api/create" else 404
    assert "no-such-model" in _error(response, status)


def test_unknown_model_through_the_client(ollama_client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as missing:
        ollama_client.chat("no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert missing.value.status_code == 404 and "no-such-model" in missing.value.error


def test_invalid_names_are_a_400(server: str) -> None:
    _error(httpx.post(server + "/api/show", json={"model": "../../etc/passwd"}), 400)


def test_images_to_a_model_that_cannot_see_are_ollamas_400(server: str) -> None:
    message = _error(httpx.post(server + "/api/generate", json={"model": MODEL, "prompt": "x", "images": ["aGk="]}), 400)
    assert message == f'"{MODEL}" does not support vision'


def test_tools_on_a_model_without_tool_support_are_a_400(server: str) -> None:
    plain = {"model": "notools:test", "from": MODEL, "template": "{{ .Prompt }}", "stream": False}
    assert httpx.post(server + "/api/create", json=plain, timeout=60).status_code == 200
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    body = {"model": "notools:test", "messages": [{"role": "user", "content": "x"}], "tools": [tool]}
    try:
        assert "does not support tools" in _error(httpx.post(server + "/api/chat", json=body), 400)
    finally:
        httpx.request("DELETE", server + "/api/delete", json={"model": "notools:test"})


def test_a_schema_that_cannot_become_a_grammar_is_a_400(server: str) -> None:
    body = {"model": MODEL, "prompt": "x", "format": {"type": "wat"}}
    assert "schema" in _error(httpx.post(server + "/api/generate", json=body), 400)


def test_bad_keep_alive_is_a_400(server: str) -> None:
    body = {"model": MODEL, "prompt": "", "keep_alive": "soon"}
    assert "keep_alive" in _error(httpx.post(server + "/api/generate", json=body), 400)


def test_unknown_endpoint_and_method_are_json(server: str) -> None:
    _error(httpx.get(server + "/api/nothing"), 404)
    _error(httpx.get(server + "/api/generate"), 405)


def test_an_oversized_body_is_a_413(server: str) -> None:
    big = b'{"model": "x", "prompt": "' + b"a" * (33 * 1024 * 1024) + b'"}'
    _error(httpx.post(server + "/api/generate", content=big, timeout=60), 413)
