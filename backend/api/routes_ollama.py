"""Ollama's inference endpoints: /api/generate, /api/chat, /api/embed and /api/embeddings."""

from __future__ import annotations

import math
import time
from typing import Any

from ember.backend.api import convert
from ember.backend.api.deps import backend_of
from ember.backend.api.streaming import first_and_rest, ndjson_response, until_disconnected
from ember.backend.errors import InvalidRequest
from ember.backend.parameters import validate
from ember.backend.service import Backend
from ember.backend.types import Embeddings
from ember.backend.wire import ollama
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

router = APIRouter(prefix="/api", tags=["ollama"])
STREAMED: dict[int | str, dict[str, Any]] = {200: {"content": {"application/x-ndjson": {}}, "description": "NDJSON when stream is true"}}


@router.post("/generate", response_model=ollama.GenerateResponse, responses=STREAMED)
async def generate(body: ollama.GenerateRequest, request: Request,
                   backend: Backend = Depends(backend_of)) -> Response:
    first, rest = await first_and_rest(request, backend.generate(convert.generate_request(body)))
    if body.stream:
        return ndjson_response(first, rest, lambda chunk: convert.generate_chunk(body.model, chunk))
    answer = await until_disconnected(request, convert.collect_answer(first, rest))
    return JSONResponse(convert.generate_chunk(body.model, answer))


@router.post("/chat", response_model=ollama.ChatResponse, responses=STREAMED)
async def chat(body: ollama.ChatRequest, request: Request, backend: Backend = Depends(backend_of)) -> Response:
    first, rest = await first_and_rest(request, backend.chat(convert.chat_request(body)))
    if body.stream:
        return ndjson_response(first, rest, lambda chunk: convert.chat_chunk(body.model, chunk))
    answer = await until_disconnected(request, convert.collect_answer(first, rest))
    return JSONResponse(convert.chat_chunk(body.model, answer))


async def embed_texts(backend: Backend, model: str, texts: list[str], truncate: bool,
                      options: dict | None, dimensions: int | None = None) -> Embeddings:
    validate(options)
    if dimensions is not None and dimensions < 1:
        raise InvalidRequest(f"dimensions must be at least 1, got {dimensions}")
    if not texts:
        await backend.show(model)  # an empty input only checks that the model exists
        return Embeddings([])
    if any(not t for t in texts):
        raise InvalidRequest("cannot embed an empty text; remove it from the input")
    result = await backend.embed_with_count(model, texts, truncate=truncate)
    if dimensions:
        result.vectors = [_unit(v[:dimensions]) for v in result.vectors]
    return result


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


@router.post("/embed", response_model=ollama.EmbedResponse)
async def embed(body: ollama.EmbedRequest, request: Request, backend: Backend = Depends(backend_of)) -> dict:
    start = time.perf_counter_ns()
    texts = [body.input] if isinstance(body.input, str) else body.input
    texts = [t for t in texts if t] if isinstance(body.input, str) else texts
    result = await until_disconnected(
        request, embed_texts(backend, body.model, texts, body.truncate, body.options, body.dimensions))
    return {"model": body.model, "embeddings": result.vectors, "total_duration": time.perf_counter_ns() - start,
            "load_duration": 0, "prompt_eval_count": result.prompt_tokens}


@router.post("/embeddings", response_model=ollama.EmbeddingsResponse)
async def embeddings(body: ollama.EmbeddingsRequest, request: Request,
                     backend: Backend = Depends(backend_of)) -> dict:
    texts = [body.prompt] if body.prompt else []
    result = await until_disconnected(request, embed_texts(backend, body.model, texts, True, body.options))
    return {"embedding": result.vectors[0] if result.vectors else []}
