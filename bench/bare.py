"""The reference: llama.cpp's own decode loop through the ctypes bindings, nothing else per token."""

from __future__ import annotations

import ctypes
import time
from pathlib import Path

import llama_cpp as lc


def load_model(path: Path) -> object:
    """The model alone, as llama.cpp's own examples load it (memory-mapped, CPU)."""
    params = lc.llama_model_default_params()
    return lc.llama_model_load_from_file(str(path).encode(), params)


class BareContext:
    """A plain one-sequence llama.cpp context on an already loaded model."""

    def __init__(self, model: object, *, num_ctx: int, threads: int, num_batch: int = 512,
                 sequences: int = 1) -> None:
        params = lc.llama_context_default_params()
        params.n_ctx = num_ctx * sequences
        params.n_batch = params.n_ubatch = num_batch
        params.n_threads = params.n_threads_batch = threads
        params.n_seq_max = sequences
        params.kv_unified = False
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

    def decode_together(self, prompts: list[list[int]], n_tokens: int) -> float:
        """Aggregate greedy decode rate of one sequence per prompt, decoded in one batch per step."""
        lc.llama_memory_clear(self.memory, True)
        batch = lc.llama_batch_init(512, 0, 1)
        chains = []
        rows, pos = [], []
        k = 0
        for s, prompt in enumerate(prompts):
            for i, token in enumerate(prompt):
                batch.token[k], batch.pos[k], batch.n_seq_id[k] = token, i, 1
                batch.seq_id[k][0], batch.logits[k] = s, i == len(prompt) - 1
                k += 1
            rows.append(k - 1)
            pos.append(len(prompt))
            chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
            chains.append(chain)
        batch.n_tokens = k
        lc.llama_decode(self.ctx, batch)
        buf = ctypes.create_string_buffer(256)
        start = time.perf_counter()
        for _ in range(n_tokens):
            for s, chain in enumerate(chains):
                token = lc.llama_sampler_sample(chain, self.ctx, rows[s])
                lc.llama_token_to_piece(self.vocab, token, buf, 256, 0, False)
                batch.token[s], batch.pos[s], batch.n_seq_id[s] = token, pos[s], 1
                batch.seq_id[s][0], batch.logits[s] = s, 1
                rows[s] = s
                pos[s] += 1
            batch.n_tokens = len(chains)
            lc.llama_decode(self.ctx, batch)
        elapsed = time.perf_counter() - start
        for chain in chains:
            lc.llama_sampler_free(chain)
        lc.llama_batch_free(batch)
        lc.llama_memory_clear(self.memory, True)
        return n_tokens * len(prompts) / elapsed

    def close(self) -> None:
        lc.llama_free(self.ctx)
