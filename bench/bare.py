"""The reference: llama.cpp's own decode loop through the ctypes bindings, nothing else per token."""

from __future__ import annotations

import ctypes
import time

import llama_cpp as lc


class BareContext:
    """A plain one-sequence llama.cpp context on an already loaded model."""

    def __init__(self, model: object, *, num_ctx: int, threads: int, num_batch: int = 512) -> None:
        params = lc.llama_context_default_params()
        params.n_ctx = num_ctx
        params.n_batch = params.n_ubatch = num_batch
        params.n_threads = params.n_threads_batch = threads
        self.ctx = lc.llama_init_from_model(model, params)
        self.memory = lc.llama_get_memory(self.ctx)
        self.vocab = lc.llama_model_get_vocab(model)

    def prefill(self, prompt: list[int]) -> float:
        """Seconds to evaluate `prompt` from an empty cache."""
        lc.llama_memory_clear(self.memory, True)
        array = (lc.llama_token * len(prompt))(*prompt)
        start = time.perf_counter()
        lc.llama_decode(self.ctx, lc.llama_batch_get_one(array, len(prompt)))
        return time.perf_counter() - start

    def decode(self, prompt: list[int], n_tokens: int) -> float:
        """Greedy decode rate in tokens per second after `prompt`."""
        self.prefill(prompt)
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
        buf = ctypes.create_string_buffer(256)
        one = (lc.llama_token * 1)()
        start = time.perf_counter()
        count = 0
        for _ in range(n_tokens):
            token = lc.llama_sampler_sample(chain, self.ctx, -1)
            if lc.llama_vocab_is_eog(self.vocab, token):
                break
            lc.llama_token_to_piece(self.vocab, token, buf, 256, 0, False)
            count += 1
            one[0] = token
            lc.llama_decode(self.ctx, lc.llama_batch_get_one(one, 1))
        elapsed = time.perf_counter() - start
        lc.llama_sampler_free(chain)
        lc.llama_memory_clear(self.memory, True)
        return count / elapsed

    def close(self) -> None:
        lc.llama_free(self.ctx)
