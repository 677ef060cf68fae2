"""A lone surrogate (`"\\ud800"`, which JSON allows and UTF-8 cannot encode) anywhere in a body is one 400."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.conftest import MODEL

pytestmark = pytest.mark.timeout(60)


def _with_lone_surrogate(body: dict) -> str:
    """`body` as JSON with every "LONE" a lone surrogate escape (json.dumps cannot write one)."""
    return json.dumps(body).replace('"LONE"', '"\\ud800"')


CREATE = {"model": "sec/s", "from": MODEL}
GENERATE = {"model": MODEL, "prompt": "hi"}
BODIES = {
    "model": _with_lone_surrogate({"model": "LONE"}),
    "options key": _with_lone_surrogate({**GENERATE, "options": {"LONE": 1}}),
    "stop": _with_lone_surrogate({**GENERATE, "options": {"stop": ["LONE"]}}),
    "suffix": _with_lone_surrogate({**GENERATE, "suffix": "LONE"}),
    "format key": _with_lone_surrogate({**GENERATE, "format": {"type": "object", "properties": {"LONE": {}}}}),
    "system in create": _with_lone_surrogate({**CREATE, "system": "LONE"}),
    "license in create": _with_lone_surrogate({**CREATE, "license": "LONE"}),
    "template in create": _with_lone_surrogate({**CREATE, "template": "LONE"}),
    "message": _with_lone_surrogate({"model": MODEL, "messages": [{"role": "user", "content": "LONE"}]}),
}


def _endpoints(server: str) -> list[tuple[str, str]]:
    paths = httpx.get(server + "/openapi.json").json()["paths"]
    return [(method.upper(), path) for path, methods in paths.items() for method in methods
            if method in ("post", "delete") and not path.startswith("/api/blobs")]


def test_a_lone_surrogate_as_the_model_is_one_400_on_every_endpoint(server: str) -> None:
    endpoints = _endpoints(server)
    assert len(endpoints) >= 10
    for method, path in endpoints:
        response = httpx.request(method, server + path, content=BODIES["model"], timeout=30)
        assert response.status_code == 400, (path, response.text)
        message = response.json()["error"]
        message = message["message"] if isinstance(message, dict) else message
        assert "lone surrogate, \\ud800" in message and "model" in message, (path, message)


@pytest.mark.parametrize("field", list(BODIES))
def test_a_lone_surrogate_in_any_field_is_refused_naming_it(server: str, field: str) -> None:
    path = "/api/create" if "create" in field else "/api/chat" if field == "message" else "/api/generate"
    response = httpx.post(server + path, content=BODIES[field], timeout=30)
    assert response.status_code == 400, response.text
    assert "not valid Unicode" in response.json()["error"]


def test_a_properly_paired_surrogate_escape_is_an_ordinary_character(server: str) -> None:
    body = json.dumps({"model": MODEL, "prompt": "EMOJI", "stream": False, "options": {"num_predict": 1}})
    body = body.replace("EMOJI", "\\ud83d\\ude00")
    assert httpx.post(server + "/api/generate", content=body, timeout=60).status_code == 200
