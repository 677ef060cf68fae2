"""Small front-door promises: the key is checked on a preflight without an Origin, 405 says what is
allowed, and the published schema lists the errors routes send (400, 404), not FastAPI's 422."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)


def test_a_preflight_without_an_origin_still_needs_the_key(secured: str) -> None:
    asked = {"Access-Control-Request-Method": "POST", "Host": "127.0.0.1"}
    response = httpx.options(secured + "/api/chat", headers=asked)
    assert response.status_code == 401
    keyed = httpx.options(secured + "/api/chat", headers={**asked, "Authorization": "Bearer sesame"})
    assert keyed.status_code != 401


def test_a_wrong_method_is_405_with_allow(server: str) -> None:
    response = httpx.get(server + "/api/chat")
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert "use POST" in response.json()["error"]


def test_the_schema_lists_400_and_404_and_never_422(server: str) -> None:
    schema = httpx.get(server + "/openapi.json").json()
    operations = [op for methods in schema["paths"].values() for op in methods.values()]
    assert operations
    for operation in operations:
        assert "422" not in operation["responses"]
        assert {"400", "404"} <= set(operation["responses"])
    assert "HTTPValidationError" not in schema.get("components", {}).get("schemas", {})
