"""The ASGI application: Ollama's /api, OpenAI's /v1 (chat, completions, Responses) and Anthropic's
/v1/messages in front of one Backend.

Routes only parse, call the Backend and stream. Every failure leaves as JSON — `{"error": "…"}` on
/api, Anthropic's error object on /v1/messages, OpenAI's on the rest of /v1 — with 400 for a bad request, 404 for an unknown model and 500
only for a real fault; never an HTML page or a traceback.
"""

from __future__ import annotations

from ember.backend import __version__
from ember.backend.api import routes_anthropic, routes_models, routes_ollama, routes_openai, routes_responses
from ember.backend.api.security import MAX_BODY, BodyTooLarge, Guard, error_body, origin_regex
from ember.backend.api.streaming import ClientGone
from ember.backend.config import Config
from ember.backend.errors import EmberError
from ember.backend.service import Backend
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send


def create_app(backend: Backend, config: Config, *, extra_hosts: tuple[str, ...] = ()) -> FastAPI:
    """The app serving `backend`; `extra_hosts` are names it also answers to (the address it listens on)."""
    app = FastAPI(title="ember", version=__version__, description="Ollama's API, OpenAI's and Anthropic's Messages API, served by ember.")
    app.state.backend = backend
    for router in (routes_models.root, routes_models.router, routes_ollama.router, routes_openai.router,
                   routes_anthropic.router, routes_responses.router):
        app.include_router(router)
    _add_error_handlers(app)
    app.add_middleware(JsonBody)
    app.add_middleware(CORSMiddleware, allow_origin_regex=origin_regex(config.origins),
                       allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(Guard, allowed_hosts=config.allowed_hosts + extra_hosts, origins=config.origins,
                       api_key=config.api_key)
    return app


def _error(request: Request, status: int, message: str) -> Response:
    return Response(error_body(request.url.path, status, message), status_code=status,
                    media_type="application/json")


def validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    kind, loc = first.get("type", ""), [str(p) for p in first.get("loc", ())[1:]]
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
        return _error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(ClientGone)
    async def client_gone(request: Request, exc: ClientGone) -> Response:
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        return _error(request, 500, f"internal error: {type(exc).__name__}: {exc}")


class JsonBody:
    """Read every /api and /v1 body as JSON whatever its Content-Type, as Ollama does (`curl -d`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(("/api/", "/v1/")):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope = {**scope, "headers": headers + [(b"content-type", b"application/json")]}
        await self.app(scope, receive, send)
