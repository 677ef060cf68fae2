"""A lone surrogate (`"\\ud800"`, which JSON allows and UTF-8 cannot encode) anywhere in a body is one 400."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import MODEL

pytestmark = pytest.mark.timeout(60)

LONE = '"\\ud800"'
BODIES = {
    "model": '{"model": %s}' % LONE,
    "options key": '{"model": "%s", "prompt": "hi", "options": {%s: 1}}' % (MODEL, LONE),
    "stop": '{"model": "%s", "prompt": "hi", "options": {"stop": [%s]}}' % (MODEL, LONE),
    "suffix": '{"model": "%s", "prompt": "hi", "suffix": %s}' % (MODEL, LONE),
    "format key": '{"model": "%s", "prompt": "hi", "format": {"type": "object", "properties": {%s: {}}}}'
                  % (MODEL, LONE),
    "system in create": '{"model": "sec/s", "from": "%s", "system": %s}' % (MODEL, LONE),
    "license in create": '{"model": "sec/s", "from": "%s", "license": %s}' % (MODEL, LONE),
    "template in create": '{"model": "sec/s", "from": "%s", "template": %s}' % (MODEL, LONE),
    "message": '{"model": "%s", "messages": [{"role": "user", "content": "a\\udfffb"}]}' % MODEL,
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
    body = '{"model": "%s", "prompt": "\\ud83d\\ude00", "stream": false, "options": {"num_predict": 1}}' % MODEL
    assert httpx.post(server + "/api/generate", content=body, timeout=60).status_code == 200
