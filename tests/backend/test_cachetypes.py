"""The KV cache in 8 and 4 bits (EMBER_KV_CACHE_TYPE), and the default context (EMBER_CONTEXT_LENGTH): what
llama.cpp keeps against ember's estimate, and both settings through the real backend."""

from __future__ import annotations

from dataclasses import replace

import llama_cpp as lc
import pytest
from ember.backend.cachetypes import CACHE_TYPES
from ember.backend.config import Config
from ember.backend.engine.memory import kv_cache_bytes
from ember.backend.parameters import Options
from ember.backend.store.ggufmeta import read_gguf_meta
from ember.backend.types import ChatRequest, Message

from tests.backend.test_engine import GREEDY, chat_tokens

MODEL = "smollm2:135m"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", list(CACHE_TYPES))
def test_the_cache_llama_cpp_keeps_is_the_size_ember_estimates_for_its_type(smollm2_gguf, kind: str) -> None:
    from ember.backend.engine.runner import Runner

    loaded = Runner(smollm2_gguf, num_ctx=256, num_parallel=1, kv_cache_type=kind)
    try:
        prompt = chat_tokens(loaded, "What is the capital of France?")
        chunks = list(loaded.generate(prompt, Options.merge(GREEDY, {"num_predict": 8, "num_ctx": 256})))
        assert "".join(chunk.text for chunk in chunks).strip()
        # every token sampled was evaluated after it, but the last one of an answer cut at num_predict
        cells = len(prompt) + chunks[-1].timings.eval_count - (chunks[-1].done_reason == "length")
        kept = lc.llama_state_seq_get_size(loaded.loop.ctx, 0)  # the sequence's cells, and a small header
        meta = read_gguf_meta(smollm2_gguf)
        estimated = kv_cache_bytes(meta.kv, meta.architecture, cells, CACHE_TYPES[kind].value_bytes)
        assert estimated <= kept <= estimated * 1.01 + 4096, (kind, cells, kept, estimated)
    finally:
        loaded.close()


async def _loaded(config: Config) -> tuple[int, int]:
    """(context, size) `ps` reports after one answer from a backend with `config`."""
    from ember.backend.local.local_backend import LocalBackend

    backend = LocalBackend(config)
    try:
        request = ChatRequest(MODEL, [Message("user", "Hi")], options={"num_predict": 2, "temperature": 0})
        assert [chunk async for chunk in backend.chat(request)][-1].done
        (running,) = await backend.running()
        return running.context_length, running.size
    finally:
        await backend.close()


@pytest.mark.timeout(180)
async def test_the_configured_cache_type_and_default_context_reach_the_loaded_model(config: Config) -> None:
    quiet = replace(config, keep_alive="-1", context_length=1024, num_parallel=1)
    f16_context, f16_size = await _loaded(quiet)
    q8_context, q8_size = await _loaded(replace(quiet, kv_cache_type="q8_0"))
    assert f16_context == q8_context == 1024  # the model's Modelfile sets no num_ctx: the configured default
    meta = read_gguf_meta(_model_file(config))
    saved = kv_cache_bytes(meta.kv, meta.architecture, 1024) - kv_cache_bytes(
        meta.kv, meta.architecture, 1024, CACHE_TYPES["q8_0"].value_bytes)
    assert f16_size - q8_size == saved


def _model_file(config: Config):  # noqa: ANN202
    from ember.backend.store.modelrecord import load_record
    from ember.backend.store.modelstore import ModelStore
    from ember.backend.store.names import parse_name

    return load_record(ModelStore(config.models), parse_name(MODEL)).model_path


@pytest.mark.timeout(180)
async def test_ps_reports_the_memory_of_the_context_a_request_resized(config: Config) -> None:
    from ember.backend.local.local_backend import LocalBackend

    backend = LocalBackend(replace(config, keep_alive="-1", context_length=1024, num_parallel=1))
    try:
        sizes = []
        for num_ctx in (1024, 512):
            request = ChatRequest(MODEL, [Message("user", "Hi")],
                                  options={"num_predict": 2, "temperature": 0, "num_ctx": num_ctx})
            assert [chunk async for chunk in backend.chat(request)][-1].done
            (running,) = await backend.running()
            assert running.context_length == num_ctx
            sizes.append(running.size)
        meta = read_gguf_meta(_model_file(config))
        assert sizes[0] - sizes[1] == kv_cache_bytes(meta.kv, meta.architecture, 512)
    finally:
        await backend.close()
