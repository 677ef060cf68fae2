"""The front door: Host names (DNS rebinding), origins (CORS) and the API key."""

from __future__ import annotations

import httpx
import ollama
import openai
import pytest
from ember.backend.api.security import host_allowed, origin_allowed, split_host

from tests.api.conftest import MODEL

KEY = {"Authorization": "Bearer sesame"}


@pytest.mark.parametrize("host", ["127.0.0.1:11434", "localhost", "localhost:80", "[::1]:11434",
                                  "api.localhost:11434", "192.168.1.20:11434", ""])
def test_loopback_names_and_addresses_are_allowed(host: str) -> None:
    assert host_allowed(host, ())


@pytest.mark.parametrize("host", ["evil.com", "evil.com:11434", "localhost.evil.com", "127.0.0.1.nip.io:11434"])
def test_other_names_are_refused_unless_configured(host: str) -> None:
    assert not host_allowed(host, ())
    assert host_allowed(host, ("*",))
    assert host_allowed(host, (split_host(host),))


def test_origins_match_patterns_or_the_server_itself() -> None:
    assert origin_allowed("http://127.0.0.1:11434", "127.0.0.1:11434", ())
    assert not origin_allowed("https://evil.com", "127.0.0.1:11434", ())
    assert origin_allowed("app://obsidian.md", "x", ("app://*",))
    assert not origin_allowed("https://evil.com", "x", ("app://*",))


def test_a_rebound_host_header_is_refused(server: str) -> None:
    response = httpx.get(server + "/api/tags", headers={"Host": "attacker.example:11434"})
    assert response.status_code == 403 and "EMBER_ALLOWED_HOSTS" in response.json()["error"]
    assert httpx.get(server + "/api/tags", headers={"Host": "localhost:11434"}).status_code == 200


def test_a_web_page_from_another_origin_is_refused(server: str) -> None:
    body = {"model": MODEL, "prompt": "", "stream": False}
    response = httpx.post(server + "/api/generate", json=body, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and "EMBER_ORIGINS" in response.json()["error"]
    assert "access-control-allow-origin" not in response.headers
    preflight = httpx.options(server + "/api/chat", headers={"Origin": "https://evil.example",
                                                             "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 403


def test_configured_origins_get_cors_headers(secured: str) -> None:
    origin = {"Origin": "https://app.example"}
    preflight = httpx.options(secured + "/api/chat", headers={**origin, "Access-Control-Request-Method": "POST",
                                                               "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 200  # no key needed: browsers never send one on a preflight
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    response = httpx.get(secured + "/api/tags", headers={**origin, **KEY})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    refused = httpx.get(secured + "/api/tags", headers={"Origin": "https://other.example", **KEY})
    assert refused.status_code == 403


def test_configured_host_names_are_allowed(secured: str) -> None:
    assert httpx.get(secured + "/api/version", headers={"Host": "ember.lan:11434", **KEY}).status_code == 200


def test_the_api_key_guards_every_endpoint(secured: str) -> None:
    for method, path in [("GET", "/"), ("HEAD", "/"), ("GET", "/api/tags"), ("POST", "/api/generate"),
                         ("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("GET", "/openapi.json")]:
        response = httpx.request(method, secured + path, json={})
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        if method != "HEAD":
            assert "EMBER_API_KEY" in response.text
    wrong = httpx.get(secured + "/api/tags", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    assert httpx.get(secured + "/api/tags", headers=KEY).status_code == 200


def test_the_clients_pass_the_api_key(secured: str) -> None:
    assert MODEL in {m.model for m in ollama.Client(host=secured, headers=KEY).list().models}
    with pytest.raises(ollama.ResponseError) as refused:
        ollama.Client(host=secured).list()
    assert refused.value.status_code == 401
    client = openai.OpenAI(base_url=secured + "/v1", api_key="sesame", max_retries=0)
    assert MODEL in [m.id for m in client.models.list()]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=secured + "/v1", api_key="wrong", max_retries=0).models.list()


def _every_route(secured: str) -> list[tuple[str, str]]:
    """(method, path) of every operation the server's own schema lists, path parameters filled in."""
    schema = httpx.get(secured + "/openapi.json", headers=KEY).json()
    routes = []
    for path, operations in schema["paths"].items():
        concrete = "/".join("x" if part.startswith("{") else part for part in path.split("/"))
        routes.extend((method.upper(), concrete) for method in operations)
    return routes


def test_every_route_in_the_schema_is_behind_the_key_host_and_origin_checks(secured: str) -> None:
    routes = _every_route(secured)
    assert ("POST", "/tokenize") in routes and ("POST", "/v1/completions") in routes and len(routes) > 25
    for method, path in routes:
        assert httpx.request(method, secured + path, json={}).status_code == 401, (method, path)
        rebound = httpx.request(method, secured + path, json={}, headers={**KEY, "Host": "attacker.example"})
        assert rebound.status_code == 403, (method, path)
        page = httpx.request(method, secured + path, json={}, headers={**KEY, "Origin": "https://evil.example"})
        assert page.status_code == 403, (method, path)
