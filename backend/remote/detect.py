"""Which API a server speaks: Ollama's (`GET /api/version`) or OpenAI's (`GET /v1/models`).

`http://host:port` tries Ollama's first, then OpenAI's under `/v1`; a URL ending in `/v1` is
OpenAI-compatible. `--api ollama|openai` skips the question. The same probe runs blocking (the
command line, before it starts) or async (the app, in the background).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from ember.backend.errors import EmberError, RemoteError
from ember.backend.remote.address import check_api, openai_base, server_url
from ember.backend.remote.transport import bearer, reason

PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class Endpoint:
    url: str  # the base the backend uses: http://host:port (Ollama) or http://host:port/v1 (OpenAI)
    api: str  # ollama | openai
    needs_key: bool = False  # it answered 401/403 to the probe


def candidates(address: str, api: str | None = None) -> list[tuple[str, str, str]]:
    """(api, base URL, probe path) to try, in order."""
    url = server_url(address)
    api = check_api(api)
    ollama = ("ollama", url, "/api/version")
    openai = ("openai", openai_base(url), "/models")
    if api == "ollama":
        return [ollama]
    if api == "openai" or url.rstrip("/").endswith("/v1"):
        return [openai]
    return [ollama, openai]


def _verdict(api: str, response: httpx.Response) -> str:
    """yes: it speaks `api`; key: it wants a key first; no: not that API."""
    if response.status_code in (401, 403):
        return "key"
    if response.status_code != 200:
        return "no"
    try:
        data: Any = response.json()
    except ValueError:
        return "no"
    if not isinstance(data, dict):
        return "no"
    if api == "ollama":
        return "yes" if "version" in data else "no"
    return "yes" if isinstance(data.get("data"), list) else "no"


def _decide(address: str, seen: list[tuple[str, str, str, str]]) -> Endpoint:
    """The endpoint from the probes' verdicts: a clear answer wins over a request for a key."""
    for api, url, _, verdict in seen:
        if verdict == "yes":
            return Endpoint(url, api)
    for api, url, _, verdict in seen:
        if verdict == "key":
            return Endpoint(url, api, needs_key=True)
    tried = ", ".join(f"GET {url}{path}: {verdict}" for _, url, path, verdict in seen)
    raise RemoteError(f"no Ollama- or OpenAI-compatible API at {server_url(address)} ({tried}) — check the address "
                      "(an OpenAI-compatible server's URL often ends in /v1), or force one with --api ollama|openai")


def forced(address: str, api: str | None) -> Endpoint | None:
    """The endpoint without asking the server, when the API is given."""
    api = check_api(api)
    if api is None:
        return None
    _, url, _ = candidates(address, api)[0]
    return Endpoint(url, api)


def detect(address: str, api: str | None = None, api_key: str = "", timeout: float = PROBE_TIMEOUT) -> Endpoint:
    """Ask the server which API it speaks (blocking); RemoteError when nothing answers."""
    known = forced(address, api)
    if known is not None:
        return known
    seen = []
    with httpx.Client(headers=bearer(api_key), timeout=timeout) as client:
        for name, url, path in candidates(address):
            try:
                response = client.get(url + path)
            except httpx.HTTPError as exc:
                raise _unreachable(url, exc) from None
            verdict = _verdict(name, response)
            seen.append((name, url, path, verdict))
            if verdict == "yes":
                break
    return _decide(address, seen)


async def detect_async(address: str, api: str | None = None, api_key: str = "",
                       timeout: float = PROBE_TIMEOUT) -> Endpoint:
    """The same question without blocking the event loop (the app probes its remotes this way)."""
    known = forced(address, api)
    if known is not None:
        return known
    seen = []
    async with httpx.AsyncClient(headers=bearer(api_key), timeout=timeout) as client:
        for name, url, path in candidates(address):
            try:
                response = await client.get(url + path)
            except httpx.HTTPError as exc:
                raise _unreachable(url, exc) from None
            verdict = _verdict(name, response)
            seen.append((name, url, path, verdict))
            if verdict == "yes":
                break
    return _decide(address, seen)


def answers(address: str, api: str | None = None, api_key: str = "", timeout: float = 0.5) -> Endpoint | None:
    """The endpoint when a server answers at `address` within `timeout`, else None (EMBER_HOST's test)."""
    try:
        return detect(address, api, api_key, timeout) if check_api(api) is None else _probe_forced(
            address, api, api_key, timeout)
    except EmberError:
        return None


def _probe_forced(address: str, api: str | None, api_key: str, timeout: float) -> Endpoint | None:
    name, url, path = candidates(address, api)[0]
    try:
        response = httpx.get(url + path, headers=bearer(api_key), timeout=timeout)
    except httpx.HTTPError:
        return None
    return Endpoint(url, name) if _verdict(name, response) != "no" else None


def _unreachable(url: str, exc: httpx.HTTPError) -> RemoteError:
    why = "no answer in time" if isinstance(exc, httpx.TimeoutException) else reason(exc)
    return RemoteError(f"cannot reach the server at {url} ({why}) — is it running, and is the address right?")
