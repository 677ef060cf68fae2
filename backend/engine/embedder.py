"""Embedder: a model loaded with an embeddings context (mean pooling), returning L2-normalised vectors.

It is a separate llama.cpp context from the Runner's: a generation context keeps logits, not pooled
hidden states. Weights are memory-mapped, so a model loaded both ways shares its pages.
"""

from __future__ import annotations

import ctypes
import math
import time
from pathlib import Path

import llama_cpp as lc
from ember.backend.engine.runner import default_threads  # also sets up llama.cpp's backend and logging
from ember.backend.engine.tokens import tokenize
from ember.backend.errors import EmberError, InvalidModelFile, InvalidRequest

EMBED_CTX = 2048


class Embedder:
    """Not thread-safe: the scheduler gives one user at a time."""

    def __init__(self, model_path: Path, *, num_ctx: int = EMBED_CTX, num_thread: int = 0) -> None:
        start = time.perf_counter_ns()
        self.path = Path(model_path)
        params = lc.llama_model_default_params()
        params.use_mmap = True
        self.model = lc.llama_model_load_from_file(str(self.path).encode(), params)
        if not self.model:
            raise InvalidModelFile(f"llama.cpp could not load {self.path}: not a model it supports, or damaged")
        self.vocab = lc.llama_model_get_vocab(self.model)
        self.n_embd = lc.llama_model_n_embd(self.model)
        num_ctx = min(num_ctx, lc.llama_model_n_ctx_train(self.model) or num_ctx)
        cparams = lc.llama_context_default_params()
        cparams.n_ctx = num_ctx
        cparams.n_batch = num_ctx  # a pooled sequence must fit in one micro-batch
        cparams.n_ubatch = num_ctx
        cparams.n_seq_max = 1
        cparams.embeddings = True
        cparams.pooling_type = lc.LLAMA_POOLING_TYPE_MEAN
        cparams.n_threads = cparams.n_threads_batch = num_thread or default_threads()
        self.ctx = lc.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            lc.llama_model_free(self.model)
            raise EmberError(f"could not create an embeddings context for {self.path.name}")
        self.num_ctx = lc.llama_n_ctx(self.ctx)
        self.memory = lc.llama_get_memory(self.ctx)
        self.batch = lc.llama_batch_init(self.num_ctx, 0, 1)
        self.load_duration = time.perf_counter_ns() - start

    def tokenize(self, text: str) -> list[int]:
        return tokenize(self.vocab, text, add_special=True, parse_special=False)

    def embed(self, texts: list[str], *, truncate: bool = True) -> tuple[list[list[float]], int]:
        """One unit-length vector per text, and how many tokens were read."""
        vectors, total = [], 0
        for text in texts:
            tokens = self.tokenize(text)
            if len(tokens) > self.num_ctx:
                if not truncate:
                    raise InvalidRequest(f"the input is {len(tokens)} tokens, longer than the model's "
                                         f"context of {self.num_ctx}; shorten it or allow truncate")
                tokens = tokens[: self.num_ctx]
            if not tokens:
                raise InvalidRequest("cannot embed an empty input")
            vectors.append(self._embed_tokens(tokens))
            total += len(tokens)
        return vectors, total

    def _embed_tokens(self, tokens: list[int]) -> list[float]:
        lc.llama_memory_clear(self.memory, True)
        batch = self.batch
        batch.n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            batch.token[i] = token
            batch.pos[i] = i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = True
        if lc.llama_decode(self.ctx, batch) != 0:
            raise EmberError("llama.cpp failed to compute the embedding")
        pointer = lc.llama_get_embeddings_seq(self.ctx, 0)
        if not pointer:
            raise EmberError(f"{self.path.name} gave no pooled embedding")
        vector = ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float))[: self.n_embd]
        norm = math.sqrt(sum(v * v for v in vector))
        return [v / norm for v in vector] if norm > 0 else vector

    def close(self) -> None:
        if self.ctx is not None:
            lc.llama_batch_free(self.batch)
            lc.llama_free(self.ctx)
            self.ctx = None
        if self.model is not None:
            lc.llama_model_free(self.model)
            self.model = None
