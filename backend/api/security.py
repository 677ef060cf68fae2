"""The server's front door: allowed Host names, allowed origins, the API key and a body size limit.

Secure by default. A Host header must be a loopback name, an IP address or a configured name, which
stops DNS rebinding (a web page whose domain resolves to 127.0.0.1). A request from a web page
(an Origin header) is refused unless its origin is configured (`EMBER_ORIGINS`) or is the server
itself. With `EMBER_API_KEY` set, every request needs `Authorization: Bearer <key>` or `x-api-key: <key>`.
"""

from __future__ import annotations

import fnmatch
import hmac
import ipaddress
import json
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from ember.backend.api.streaming import BODY_SEND
from ember.backend.wire import anthropic
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 32 * 1024 * 1024
UPLOADS = "/api/blobs/"  # model files: as large as the disk allows (the store refuses what does not fit)
ANTHROPIC = "/v1/messages"


def split_host(host: str) -> str:
    """The name in a Host header, without its port or IPv6 brackets, lower-cased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(header: str, allowed: Iterable[str]) -> bool:
    name = split_host(header)
    if not name or _is_ip(name) or name == "localhost" or name.endswith(".localhost"):
        return True
    return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in allowed)


def origin_allowed(origin: str, host: str, origins: Iterable[str]) -> bool:
    if urlsplit(origin).netloc.lower() == host.strip().lower():
        return True  # the server's own pages (the /docs explorer)
    return any(fnmatch.fnmatchcase(origin, pattern) for pattern in origins)


def origin_regex(origins: Iterable[str]) -> str | None:
    """The same patterns as a regular expression, for the CORS response headers."""
    patterns = [fnmatch.translate(o).removesuffix(r"\Z").removeprefix("(?s:").removesuffix(")") for o in origins]
    return "|".join(f"(?:{p})" for p in patterns) if patterns else None


def is_anthropic(path: str) -> bool:
    return path == ANTHROPIC or path.startswith(ANTHROPIC + "/")


def error_body(path: str, status: int, message: str) -> bytes:
    """Ollama's error shape on /api, Anthropic's on /v1/messages, OpenAI's on the rest of /v1."""
    if is_anthropic(path):
        return anthropic.error_body(status, message)
    if path.startswith("/v1/"):
        kind = "invalid_request_error" if status < 500 else "api_error"
        body: dict[str, object] = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    else:
        body = {"error": message}
    # backslashreplace: a message quoting a lone surrogate still leaves as valid JSON (a \u escape)
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "backslashreplace")


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def lone_surrogate(body: bytes) -> str | None:
    """The error for a JSON body holding a lone surrogate (`"\\ud800"`) in any string, or None."""
    if not _SURROGATE_ESCAPE.search(body):
        return None  # raw UTF-8 cannot encode a surrogate: only a \u escape can make one
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: the route says so
    found = _find_surrogate(value, "")
    if found is None:
        return None
    where, char = found
    return (f"{where or 'the request body'} holds text that is not valid Unicode (a lone surrogate, "
            f"\\u{ord(char):04x}): send well-formed UTF-8")


def _bad_char(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None


def _find_surrogate(value: object, where: str) -> tuple[str, str] | None:
    """Where the first lone surrogate is (`messages[0].content`) and the character itself."""
    stack = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            bad = _bad_char(item)
            if bad is not None:
                return path, bad
        elif isinstance(item, dict):
            for key, child in item.items():
                bad = _bad_char(str(key))
                if bad is not None:
                    return f"a key in {path or 'the request body'}", bad
                stack.append((child, f"{path}.{key}" if path else str(key)))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
    return None


class BodyTooLarge(Exception):
    pass


class Guard:
    """ASGI middleware applying the checks above before any route runs."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str] = (), origins: Iterable[str] = (),
                 api_key: str = "", max_body: int = MAX_BODY) -> None:
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)
        self.origins = tuple(origins)
        self.api_key = api_key.encode()
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path = scope.get("path", "")
        host = headers.get("host", "")
        if not host_allowed(host, self.allowed_hosts):
            await refuse(send, path, 403, f'host "{split_host(host)}" is not allowed: add it to '
                                           "EMBER_ALLOWED_HOSTS if this server should answer to that name")
            return
        origin = headers.get("origin")
        if origin and not origin_allowed(origin, host, self.origins):
            await refuse(send, path, 403, f'origin "{origin}" is not allowed: add it to EMBER_ORIGINS '
                                           "to let that web page use this server")
            return
        # a browser's CORS preflight carries no key; one without an Origin is no browser's
        preflight = bool(origin) and scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if self.api_key and not preflight and not self._authorised(headers):
            await refuse(send, path, 401, "this server needs an API key: send the header "
                                          '"Authorization: Bearer <EMBER_API_KEY>" (or "x-api-key: '
                                          '<EMBER_API_KEY>")', [(b"www-authenticate", b"Bearer")])
            return
        if path.startswith(UPLOADS):
            await self.app(scope, receive, send)
            return
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            await refuse(send, path, 413, f"the request body is larger than {self.max_body >> 20} MiB")
            return
        await self._limited(scope, receive, send, path)

    def _authorised(self, headers: Headers) -> bool:
        """`Authorization: Bearer <key>` (Ollama's and OpenAI's clients) or `x-api-key` (Anthropic's)."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        bearer = scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key)
        key = headers.get("x-api-key")
        return bearer or (key is not None and hmac.compare_digest(key.strip().encode(), self.api_key))

    async def _limited(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        received, started = 0, False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app({**scope, BODY_SEND: send}, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await refuse(send, path, 413, f"the request body is larger than {self.max_body >> 20} MiB")


async def refuse(send: Send, path: str, status: int, message: str,
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = error_body(path, status, message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})
