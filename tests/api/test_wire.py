"""The wire models in backend/wire describe what the server really sends, and the check that holds them
to it (tests/api/wirecheck.py, run on every test server) catches drift."""

from __future__ import annotations

import time

import httpx
import pytest
from ember.backend.wire import ollama, openai

from tests.api import wirecheck
from tests.api.conftest import MODEL, QUICK

BODILESS = {"/", "/api/copy", "/api/delete", "/api/blobs/{digest}", "/api/push"}  # no body, or only an error


def test_the_check_catches_a_field_the_model_lacks_and_a_wrong_type():
    line = {"model": "m", "created_at": "2026-12-01T00:00:00Z", "done": False,
            "message": {"role": "assistant", "content": "hi"}}
    assert wirecheck.drift(ollama.ChatResponse, line) == ""
    assert "mood" in wirecheck.drift(ollama.ChatResponse, {**line, "message": {**line["message"], "mood": "x"}})
    assert "eval_count" in wirecheck.drift(ollama.ChatResponse, {**line, "eval_count": "many"})
    assert "choices" in wirecheck.drift(openai.OAIChatCompletion, {"id": "x"})


def test_every_route_with_a_body_has_a_wire_model(backend, config):  # type: ignore[no-untyped-def]
    from ember.backend.api.app import create_app

    paths = {path for path in create_app(backend, config).openapi()["paths"] if path.startswith(("/api/", "/v1/"))}
    assert "/api/chat" in paths and "/v1/chat/completions" in paths
    unmodelled = {p for p in paths - BODILESS if wirecheck.models_for(p.replace("{model}", "x"), 200) is None}
    assert not unmodelled, f"routes whose responses no wire model describes: {sorted(unmodelled)}"


@pytest.mark.parametrize("stream", [False, True])
def test_answers_of_both_protocols_are_checked_whole_and_streamed(server: str, stream: bool):
    wirecheck.CHECKED.clear()
    chat = [{"role": "user", "content": "Say hi."}]
    bodies = {
        "/api/generate": {"model": MODEL, "prompt": "Hi", "options": QUICK, "stream": stream},
        "/api/chat": {"model": MODEL, "messages": chat, "options": QUICK, "stream": stream},
        "/v1/chat/completions": {"model": MODEL, "messages": chat, "max_tokens": 4, "stream": stream,
                                 "stream_options": {"include_usage": True}},
        "/v1/completions": {"model": MODEL, "prompt": "Hi", "max_tokens": 4, "stream": stream},
    }
    with httpx.Client(base_url=server, timeout=60) as client:
        replies = [client.post(path, json=body) for path, body in bodies.items()]
    assert all(reply.status_code == 200 for reply in replies)
    wanted = {"/api/generate: GenerateResponse", "/api/chat: ChatResponse", "/v1/completions: OAICompletion",
              "/v1/chat/completions: OAIChatCompletionChunk" if stream else "/v1/chat/completions: OAIChatCompletion"}
    deadline = time.monotonic() + 10  # the server checks a stream once it has sent it, just after the client read it
    while not wanted <= set(wirecheck.CHECKED) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wanted <= set(wirecheck.CHECKED)
    if stream:  # several lines and events, each checked
        assert wirecheck.CHECKED.count("/api/chat: ChatResponse") > 1


def test_errors_of_both_protocols_are_checked(server: str):
    wirecheck.CHECKED.clear()
    assert httpx.post(server + "/api/show", json={"model": "no-such-model"}).status_code == 404
    assert httpx.post(server + "/v1/embeddings", json={"model": MODEL, "input": ""}).status_code == 400
    wanted = {"/api/show: ErrorResponse", "/v1/embeddings: OAIErrorResponse"}
    deadline = time.monotonic() + 10
    while not wanted <= set(wirecheck.CHECKED) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wanted <= set(wirecheck.CHECKED)
