"""Build llama.cpp's C sampler chain from Options: every token is chosen in C, not Python."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import llama_cpp as lc
import numpy as np
from ember.backend.errors import InvalidRequest
from ember.backend.parameters import Options

RANDOM_SEED = 0xFFFFFFFF  # llama.cpp picks a fresh seed
TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])  # llama_token_data, 12 bytes


@dataclass
class Scored:
    """A sampled token, its log probability among the candidates the chain left, and the likeliest of them."""

    token: int
    logprob: float
    top: list[tuple[int, float]]


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

    def sample_scored(self, ctx: lc.llama_context_p, index: int, n_vocab: int, top: int) -> Scored:
        """Sample as `llama_sampler_sample` does, keeping the candidates the chain leaves to score them.

        The log probabilities are those the chain sampled from: after penalties, the grammar, top-k/top-p/
        min-p and temperature, renormalised over the tokens still allowed. Costs a pass over the
        vocabulary in numpy, so it runs only for requests that ask for logprobs.
        """
        cells = np.empty(n_vocab, dtype=TOKEN_DATA)
        cells["id"] = np.arange(n_vocab, dtype=np.int32)
        cells["logit"] = np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, index), shape=(n_vocab,))
        cells["p"] = 0.0
        candidates = lc.llama_token_data_array(data=cells.ctypes.data_as(lc.llama_token_data_p),
                                               size=n_vocab, selected=-1, sorted=False)
        lc.llama_sampler_apply(self.chain, ctypes.byref(candidates))
        kept = cells[: candidates.size]
        chosen = int(candidates.selected)
        token = int(kept["id"][chosen])
        lc.llama_sampler_accept(self.chain, token)
        logits = kept["logit"].astype(np.float64)
        allowed = np.isfinite(logits)
        peak = logits[allowed].max() if allowed.any() else 0.0
        logprobs = np.where(allowed, logits - peak, -np.inf)
        logprobs -= np.log(np.exp(logprobs[allowed]).sum()) if allowed.any() else 0.0
        best: list[tuple[int, float]] = []
        if top > 0:
            count = min(top, int(allowed.sum()))
            order = np.argpartition(-logprobs, count - 1)[:count] if count else []
            best = sorted(((int(kept["id"][i]), float(logprobs[i])) for i in order), key=lambda t: -t[1])
        return Scored(token, float(logprobs[chosen]), best)

    def close(self) -> None:
        if self.chain:
            lc.llama_sampler_free(self.chain)
            self.chain = None
