"""Build llama.cpp's C sampler chain from Options: every token is chosen in C, not Python."""

from __future__ import annotations

import llama_cpp as lc
from ember.backend.errors import InvalidRequest
from ember.backend.parameters import Options

RANDOM_SEED = 0xFFFFFFFF  # llama.cpp picks a fresh seed


class SamplerChain:
    """Owns a llama.cpp sampler chain; free it with close() (or let the runner do it)."""

    def __init__(self, vocab: lc.llama_vocab_p, n_vocab: int, options: Options, grammar: str | None = None):
        self.chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        add = lambda sampler: lc.llama_sampler_chain_add(self.chain, sampler)  # noqa: E731
        if grammar:
            sampler = lc.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
            if not sampler:
                self.close()
                raise InvalidRequest("the output format could not be turned into a grammar")
            add(sampler)
        o = options
        last_n = o.num_ctx if o.repeat_last_n == -1 else o.repeat_last_n
        if last_n and (o.repeat_penalty != 1.0 or o.frequency_penalty or o.presence_penalty):
            add(lc.llama_sampler_init_penalties(n_vocab, last_n, o.repeat_penalty,
                                                o.frequency_penalty, o.presence_penalty))
        seed = RANDOM_SEED if o.seed < 0 else o.seed
        if o.temperature <= 0:
            add(lc.llama_sampler_init_greedy())
        elif o.mirostat == 1:
            add(lc.llama_sampler_init_temp(o.temperature))
            add(lc.llama_sampler_init_mirostat(n_vocab, seed, o.mirostat_tau, o.mirostat_eta, 100))
        elif o.mirostat == 2:
            add(lc.llama_sampler_init_temp(o.temperature))
            add(lc.llama_sampler_init_mirostat_v2(seed, o.mirostat_tau, o.mirostat_eta))
        else:
            if o.top_k > 0:
                add(lc.llama_sampler_init_top_k(o.top_k))
            if o.typical_p < 1.0:
                add(lc.llama_sampler_init_typical(o.typical_p, 1))
            if o.top_p < 1.0:
                add(lc.llama_sampler_init_top_p(o.top_p, 1))
            if o.min_p > 0.0:
                add(lc.llama_sampler_init_min_p(o.min_p, 1))
            add(lc.llama_sampler_init_temp(o.temperature))
            add(lc.llama_sampler_init_dist(seed))

    def close(self) -> None:
        if self.chain:
            lc.llama_sampler_free(self.chain)
            self.chain = None
