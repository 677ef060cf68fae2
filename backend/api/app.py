"""The ASGI application: Ollama's /api, OpenAI's /v1 (chat, completions, Responses) and Anthropic's
/v1/messages in front of one Backend.

Routes only parse, call the Backend and stream. Every failure leaves as JSON — `{"error": "…"}` on
/api, Anthropic's error object on /v1/messages, OpenAI's on the rest of /v1 — with 400 for a bad request, 404 for an unknown model and 500
only for a real fault; never an HTML page or a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ember.backend import __version__
from ember.backend.api import (
    routes_anthropic,
    routes_completions,
    routes_models,
    routes_ollama,
    routes_openai,
    routes_responses,
    routes_tokenizer,
)
from ember.backend.api.security import (
    MAX_BODY,
    UPLOADS,
    BodyTooLarge,
    Guard,
    error_body,
    lone_surrogate,
    origin_regex,
    refuse,
)
from ember.backend.api.streaming import ClientGone
from ember.backend.config import Config
from ember.backend.errors import EmberError
from ember.backend.service import Backend
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def create_app(backend: Backend, config: Config, *, extra_hosts: tuple[str, ...] = ()) -> FastAPI:
    """The app serving `backend`; `extra_hosts` are names it also answers to (the address it listens on)."""
    app = FastAPI(title="ember", version=__version__, description="Ollama's API, OpenAI's and Anthropic's Messages API, served by ember.")
    app.state.backend = backend
    for router in (routes_models.root, routes_models.router, routes_ollama.router, routes_openai.router,
                   routes_completions.router, routes_anthropic.router, routes_responses.router,
                   routes_tokenizer.router):
        app.include_router(router)
    _add_error_handlers(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(JsonBody)
    app.add_middleware(CORSMiddleware, allow_origin_regex=origin_regex(config.origins),
                       allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(Guard, allowed_hosts=config.allowed_hosts + extra_hosts, origins=config.origins,
                       api_key=config.api_key)
    return app


_ERROR_SCHEMA = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
_ERRORS = {"400": "Bad request: the error names the field and what to send",
           "404": "Unknown model or endpoint"}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with the 400 and 404 every route sends instead of the 422 none does."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for status, text in _ERRORS.items():
                    responses.setdefault(status, {"description": text, "content": {
                        "application/json": {"schema": _ERROR_SCHEMA}}})
        schemas = schema.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
    return app.openapi_schema


def _error(request: Request, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(error_body(request.url.path, status, message), status_code=status,
                    media_type="application/json", headers=headers)


def validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    if isinstance(first.get("input"), (dict, list)):
        # a union of a scalar and an object or a list: that branch says what is wrong with the one given
        field = tuple(first.get("loc", ()))[:2]
        first = max((e for e in errors if tuple(e.get("loc", ()))[:2] == field), key=lambda e: len(e.get("loc", ())))
    kind = first.get("type", "")
    loc = [str(p) for p in first.get("loc", ())[1:] if not _union_branch(p)]
    if kind == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "")
        return f"invalid JSON in the request body: {reason}".rstrip(": ")
    if kind == "missing" and not loc:
        return "missing request body"
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if not loc:
        return message
    given = first.get("input")
    shown = f", got {given!r}"[:80] if kind != "missing" and not isinstance(given, (dict, list)) else ""
    return f"{'.'.join(loc)}: {message}{shown}"


def _union_branch(part: object) -> bool:
    """Whether a part of an error's location names the member of a union it was checked against
    (`NamedToolChoice`, `literal['auto','none']`, `str`) rather than a field or an index."""
    text = str(part)
    return isinstance(part, str) and (text[:1].isupper() or "[" in text or text in ("str", "int", "float", "bool"))


def unreadable_body(cause: BaseException) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return (f"the request body is not valid UTF-8 (byte 0x{cause.object[cause.start]:02x} at offset "
                f"{cause.start}): send JSON encoded as UTF-8")
    if isinstance(cause, RecursionError):
        return "the request body is nested too deeply to read: send JSON nested less than 500 levels"
    return f"the request body could not be read as JSON ({type(cause).__name__}: {cause})"


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(EmberError)
    async def ember_error(request: Request, exc: EmberError) -> Response:
        return _error(request, exc.status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return _error(request, 400, validation_message(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return _error(request, 404, f"no such endpoint: {request.method} {request.url.path}")
        if isinstance(exc.__cause__, BodyTooLarge):  # a chunked body that outgrew the limit
            return _error(request, 413, f"the request body is larger than {MAX_BODY >> 20} MiB")
        if exc.status_code == 400 and exc.__cause__ is not None:  # the body could not be decoded
            return _error(request, 400, unreadable_body(exc.__cause__))
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            return _error(request, 405, f"{request.method} is not allowed on {request.url.path}: use {allowed}",
                          exc.headers)
        return _error(request, exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(ClientGone)
    async def client_gone(request: Request, exc: ClientGone) -> Response:
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        return _error(request, 500, f"internal error: {type(exc).__name__}: {exc}")


JSON_PATHS = ("/api/", "/v1/", "/tokenize", "/detokenize")


class JsonBody:
    """Read every body of the APIs as JSON whatever its Content-Type, as Ollama does (`curl -d`).

    The body is read here first so that text no route can encode (a lone surrogate, `"\\ud800"`,
    in any field) gets one 400 naming the field before any route sees it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(JSON_PATHS) or path.startswith(UPLOADS):
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
        scope = {**scope, "headers": headers + [(b"content-type", b"application/json")]}
        chunks: list[bytes] = []
        message: Message = {"more_body": True}
        while message.get("more_body"):
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            chunks.append(message.get("body", b""))
        body = b"".join(chunks)
        problem = lone_surrogate(body)
        if problem is not None:
            await refuse(send, path, 400, problem)
            return
        await self.app(scope, _replay([body], None, receive), send)


def _replay(bodies: list[bytes], last: Message | None, receive: Receive) -> Receive:
    """A receive that hands over the body read already, then the client's own messages."""
    pending: list[Message] = [{"type": "http.request", "body": b, "more_body": False} for b in bodies]
    if last is not None:
        pending.append(last)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
