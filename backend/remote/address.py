"""Server addresses and API names as users write them, checked without importing an HTTP client."""

from __future__ import annotations

from urllib.parse import urlsplit

from ember.backend.errors import EmberError

DEFAULT_PORT = 11434
APIS = ("ollama", "openai")


def server_url(address: str) -> str:
    """`host`, `host:port`, `:port` or a URL, as OLLAMA_HOST accepts them, as a base URL."""
    text = address.strip().rstrip("/")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    host = parts.hostname or "127.0.0.1"
    if host == "0.0.0.0":
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    try:
        port = parts.port or (443 if parts.scheme == "https" else DEFAULT_PORT)
    except ValueError:
        raise EmberError(f'"{address}" is not a server address; use host:port, e.g. 127.0.0.1:11434') from None
    return f"{parts.scheme}://{shown}:{port}{parts.path}"


def openai_base(url: str) -> str:
    return url if url.rstrip("/").endswith("/v1") else url.rstrip("/") + "/v1"


def check_api(api: str | None) -> str | None:
    if api in (None, "", "auto"):
        return None
    if api not in APIS:
        raise EmberError(f'unknown API "{api}" — use ollama or openai (or leave it out to detect it)')
    return api
