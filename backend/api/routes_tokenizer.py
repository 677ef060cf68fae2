"""vLLM's tokenizer endpoints: POST /tokenize, POST /detokenize, GET /tokenizer_info.

What a client that tokenizes through the server calls: lm-evaluation-harness's remote tokenizer reads
them, then sends prompts as token ids to /v1/completions to score them. vLLM serves one model and
these requests need not name it; ember serves several, so a request that names no `model` gets the
model loaded now, or the one installed, and a clear error when that is not one model.
"""

from __future__ import annotations

from typing import Any

from ember.backend.api.deps import backend_of
from ember.backend.errors import InvalidRequest
from ember.backend.service import Backend
from ember.backend.wire import openai
from fastapi import APIRouter, Depends

router = APIRouter(tags=["tokenizer"])


async def _model(backend: Backend, named: str | None) -> str:
    if named:
        return named
    loaded = sorted({m.name for m in await backend.running()})
    if len(loaded) == 1:
        return loaded[0]
    installed = [m.name for m in await backend.list_models()] if not loaded else []
    if len(installed) == 1:
        return installed[0]
    among = ", ".join(loaded or installed) or "none installed"
    raise InvalidRequest(f'name the model ("model": NAME in the body, ?model=NAME on GET): {among}')


@router.post("/tokenize", response_model=openai.TokenizeResponse)
async def tokenize(body: openai.TokenizeRequest, backend: Backend = Depends(backend_of)) -> dict[str, Any]:
    model = await _model(backend, body.model)
    tokens = await backend.tokenize(model, body.prompt, add_special=body.add_special_tokens)
    info = await backend.tokenizer_info(model)
    return {"count": len(tokens), "max_model_len": info.context_length, "tokens": tokens}


@router.post("/detokenize", response_model=openai.DetokenizeResponse)
async def detokenize(body: openai.DetokenizeRequest, backend: Backend = Depends(backend_of)) -> dict[str, Any]:
    return {"prompt": await backend.detokenize(await _model(backend, body.model), body.tokens)}


@router.get("/tokenizer_info", response_model=openai.TokenizerInfoResponse)
async def tokenizer_info(model: str | None = None, backend: Backend = Depends(backend_of)) -> dict[str, Any]:
    info = await backend.tokenizer_info(await _model(backend, model))
    return {"tokenizer_class": "llama.cpp", "bos_token": info.bos_token or None, "eos_token": info.eos_token or None,
            "pad_token": None, "chat_template": info.chat_template or None, "model_max_length": info.context_length}
