"""Ollama's model endpoints: version, tags, show, create, copy, delete, pull, push, ps."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ember.backend import __version__
from ember.backend.api import convert
from ember.backend.api.deps import backend_of
from ember.backend.api.streaming import first_and_rest, ndjson_response, until_disconnected
from ember.backend.errors import InvalidRequest
from ember.backend.service import Backend
from ember.backend.types import PullProgress
from ember.backend.wire import ollama
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

root = APIRouter(tags=["ollama"])
router = APIRouter(prefix="/api", tags=["ollama"])
STREAMED: dict[int | str, dict[str, Any]] = {200: {"content": {"application/x-ndjson": {}}, "description": "NDJSON progress when stream is true"}}


@root.get("/", response_class=PlainTextResponse)
@root.head("/", response_class=PlainTextResponse)
async def index() -> str:
    return "Ollama is running"


@router.get("/version", response_model=ollama.VersionResponse)
@router.head("/version", include_in_schema=False)
async def version() -> dict:
    return {"version": ollama.API_VERSION, "ember_version": __version__}


@router.get("/tags", response_model=ollama.TagsResponse)
async def tags(backend: Backend = Depends(backend_of)) -> dict:
    return {"models": [convert.model_entry(m) for m in await backend.list_models()]}


@router.get("/ps", response_model=ollama.PsResponse)
async def ps(backend: Backend = Depends(backend_of)) -> dict:
    return {"models": [convert.running_entry(m) for m in await backend.running()]}


@router.post("/show", response_model=ollama.ShowResponse)
async def show(body: ollama.ShowRequest, backend: Backend = Depends(backend_of)) -> dict:
    return convert.show_response(await backend.show(body.model), body.verbose)


@router.post("/copy")
async def copy(body: ollama.CopyRequest, backend: Backend = Depends(backend_of)) -> Response:
    await backend.copy(body.source, body.destination)
    return Response(status_code=200)


@router.delete("/delete")
async def delete(body: ollama.DeleteRequest, backend: Backend = Depends(backend_of)) -> Response:
    await backend.delete(body.model)
    return Response(status_code=200)


def _progress(event: PullProgress) -> dict:
    data = {k: v for k, v in asdict(event).items() if v or k == "status"}
    if event.total:
        data["completed"] = event.completed
    return data


async def _progress_response(request: Request, events, stream: bool) -> Response:
    first, rest = await first_and_rest(request, events)
    if stream:
        return ndjson_response(first, rest, _progress)

    async def last_of() -> PullProgress:
        last = first
        async for event in rest:
            last = event
        return last

    return JSONResponse(_progress(await until_disconnected(request, last_of())))


@router.post("/pull", response_model=ollama.ProgressResponse, responses=STREAMED)
async def pull(body: ollama.PullRequest, request: Request, backend: Backend = Depends(backend_of)) -> Response:
    return await _progress_response(request, backend.pull(body.model, over_api=True, insecure=body.insecure),
                                    body.stream)


@router.post("/create", response_model=ollama.ProgressResponse, responses=STREAMED)
async def create(body: ollama.CreateRequest, request: Request, backend: Backend = Depends(backend_of)) -> Response:
    text = body.modelfile or convert.modelfile_from_fields(body)
    return await _progress_response(request, backend.create(body.model, text, quantize=body.quantize or None),
                                    body.stream)


@router.head("/blobs/{digest}", responses={404: {"description": "the store has no such blob"}})
async def blob_exists(digest: str, backend: Backend = Depends(backend_of)) -> Response:
    return Response(status_code=200 if await backend.has_blob(digest) else 404)


@router.post("/blobs/{digest}", status_code=201)
async def upload_blob(digest: str, request: Request, backend: Backend = Depends(backend_of)) -> Response:
    """A model file for /api/create's `files`; refused unless its sha256 is `digest`."""
    await backend.add_blob(digest, request.stream())  # a client that leaves stops it; nothing is kept
    return Response(status_code=201)


@router.post("/push", response_model=ollama.ProgressResponse)
async def push(body: ollama.PullRequest) -> Response:
    raise InvalidRequest(f"ember cannot push {body.model} to a registry: pushing is not supported; "
                         "share the GGUF file or a Modelfile instead")
