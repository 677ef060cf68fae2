"""Every body the test server sends, checked against its wire model (backend/wire), so drift fails a test.

`WireCheck` wraps the real app: it watches each response on its way out (a whole JSON body, each
NDJSON line, each server-sent event) and reads it back through the model that documents it. A body
conforms when the model reads it and writes back exactly what was sent: no field the model does not
know, none of the wrong type. What does not conform is kept in `DRIFT` for the tests' fixture to report.
"""

from __future__ import annotations

import json
from typing import Any

from ember.backend.wire import anthropic, ollama, openai, responses
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# path -> (the model of a whole body, the model of each streamed line or event)
RESPONSES: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "/api/generate": (ollama.GenerateResponse, ollama.GenerateResponse),
    "/api/chat": (ollama.ChatResponse, ollama.ChatResponse),
    "/api/embed": (ollama.EmbedResponse, ollama.EmbedResponse),
    "/api/embeddings": (ollama.EmbeddingsResponse, ollama.EmbeddingsResponse),
    "/api/tags": (ollama.TagsResponse, ollama.TagsResponse),
    "/api/ps": (ollama.PsResponse, ollama.PsResponse),
    "/api/show": (ollama.ShowResponse, ollama.ShowResponse),
    "/api/version": (ollama.VersionResponse, ollama.VersionResponse),
    "/api/pull": (ollama.ProgressResponse, ollama.ProgressResponse),
    "/api/create": (ollama.ProgressResponse, ollama.ProgressResponse),
    "/v1/chat/completions": (openai.OAIChatCompletion, openai.OAIChatCompletionChunk),
    "/v1/completions": (openai.OAICompletion, openai.OAICompletion),
    "/v1/embeddings": (openai.OAIEmbeddingList, openai.OAIEmbeddingList),
    "/v1/models": (openai.OAIModelList, openai.OAIModelList),
    "/v1/responses": (responses.Response, responses.StreamEvent),
    "/v1/messages": (anthropic.Message, anthropic.StreamEvent),
    "/v1/messages/count_tokens": (anthropic.CountTokensResponse, anthropic.CountTokensResponse),
}
CHECKED: list[str] = []  # "path: Model" for every body checked, so a test can see the check ran
DRIFT: list[str] = []


def error_model(path: str) -> type[BaseModel]:
    if path.startswith("/v1/messages"):
        return anthropic.ErrorResponse
    return openai.OAIErrorResponse if path.startswith("/v1/") else ollama.ErrorResponse


def models_for(path: str, status: int) -> tuple[type[BaseModel], type[BaseModel]] | None:
    if status >= 400:
        error = error_model(path)
        return error, error
    if path.startswith("/v1/models/"):
        return openai.OAIModel, openai.OAIModel
    return RESPONSES.get(path)


def drift(model: type[BaseModel], body: Any) -> str:
    """Why `body` does not conform to `model` ("" when it does)."""
    try:
        read = model.model_validate(body, strict=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
    written = read.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return "" if written == body else f"sent {_difference(body, written)}"


def _difference(sent: Any, written: Any, at: str = "") -> str:
    if isinstance(sent, dict) and isinstance(written, dict):
        for key in sent:
            if key not in written:
                return f"{at}{key}, which the model does not have"
            if sent[key] != written[key]:
                return _difference(sent[key], written[key], f"{at}{key}.")
    if isinstance(sent, list) and isinstance(written, list) and len(sent) == len(written):
        for i, (a, b) in enumerate(zip(sent, written)):
            if a != b:
                return _difference(a, b, f"{at}{i}.")
    return f"{at.rstrip('.') or 'the body'} as {sent!r:.80}, read back as {written!r:.80}"


def check(path: str, status: int, content_type: str, body: bytes) -> None:
    models = models_for(path, status)
    if not body.strip() or "json" not in content_type and "ndjson" not in content_type \
            and "event-stream" not in content_type:
        return
    if models is None:
        DRIFT.append(f"{path}: a {status} body with no wire model to describe it")
        return
    whole, each = models
    text = body.decode("utf-8", "replace")
    if "event-stream" in content_type:  # the last piece is cut off when the client left mid-event
        items = []
        for event in text.split("\n\n")[:-1]:
            lines = dict(line.split(": ", 1) for line in event.split("\n") if ": " in line)
            if "data" not in lines or lines["data"] == "[DONE]":
                continue
            named = lines.get("event")  # a named event (Anthropic's, the Responses API's) is named by its type
            if named is not None and json.loads(lines["data"]).get("type") != named:
                DRIFT.append(f"{path}: the event named {named!r} holds {lines['data']:.80}")
            items.append((each, lines["data"]))
    elif "ndjson" in content_type:
        items = [(each, line) for line in text.split("\n")[:-1] if line.strip()]
    else:
        items = [(whole, text)]
    for model, item in items:
        data = json.loads(item)
        if isinstance(data, dict) and data.get("error") is not None and status < 400:  # an error that ends a stream
            model = error_model(path)
        why = drift(model, data)
        CHECKED.append(f"{path}: {model.__name__}")
        if why:
            DRIFT.append(f"{path} ({model.__name__}): {why}")


class WireCheck:
    """ASGI middleware that checks every /api and /v1 response body on its way out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(("/api/", "/v1/")) or scope["method"] == "HEAD":
            await self.app(scope, receive, send)
            return
        status, content_type, body = 0, "", bytearray()

        async def watched(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
                content_type = headers.get("content-type", "")
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            try:
                check(path, status, content_type, bytes(body))
            except ValueError as exc:  # not JSON at all
                DRIFT.append(f"{path}: a {status} body that is not JSON ({exc})")
