"""Loading a model for the local backend: its batch loop with the configured context, cache type and GPU
offload, what that will take in memory, and its embeddings context."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ember.backend.cachetypes import cache_type
from ember.backend.config import Config
from ember.backend.engine.scheduler import ModelKey
from ember.backend.parameters import Options

if TYPE_CHECKING:
    from ember.backend.engine.embedder import Embedder
    from ember.backend.engine.offload import OffloadPlan
    from ember.backend.engine.runner import Runner


def load_runner(key: ModelKey, config: Config, options: Options) -> tuple[Runner, OffloadPlan]:
    """Load with as many layers on the GPU as fit (or the model's num_gpu); fewer after out-of-memory."""
    from ember.backend.engine.offload import load_offloaded
    from ember.backend.engine.runner import Runner  # llama.cpp is only imported when a model runs

    return load_offloaded(
        key.model,
        lambda layers: Runner(key.model, adapters=key.adapters, num_parallel=config.num_parallel,
                              num_thread=config.num_thread, num_ctx=options.num_ctx, num_gpu=layers,
                              main_gpu=options.main_gpu, use_mmap=options.use_mmap, use_mlock=options.use_mlock,
                              projector=key.projector, flash_attention=config.flash_attention,
                              kv_cache_type=config.kv_cache_type),
        num_ctx=options.num_ctx, num_gpu=options.num_gpu, parallel=config.num_parallel,
        num_batch=options.num_batch, kv_value_bytes=cache_type(config.kv_cache_type).value_bytes)


def runner_bytes(key: ModelKey, config: Config) -> int:
    from ember.backend.engine.memory import estimate_bytes

    return estimate_bytes(key.model, key.adapters, Options.merge(context_layer(config)).num_ctx,
                          config.num_parallel, cache_type(config.kv_cache_type).value_bytes)


def context_layer(config: Config) -> dict[str, object] | None:
    """The configured default context (EMBER_CONTEXT_LENGTH), beneath the model's and the request's."""
    return {"num_ctx": config.context_length} if config.context_length else None


def load_embedder(key: ModelKey) -> Embedder:
    from ember.backend.engine.embedder import Embedder

    return Embedder(key.model)
