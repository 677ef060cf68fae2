"""Build llama.cpp's C sampler chain from Options: every token is chosen in C, not Python.

A grammar (structured outputs) is kept beside the chain, not in it, and applied the way llama.cpp's
own server applies it: sample freely, check only the chosen token against the grammar, and sample
again with the grammar over the whole vocabulary only when that token is refused. Matching every
token of the vocabulary against the grammar at every step halves the decode rate; most chosen
tokens fit, so the full pass is rare. Greedy output is the same either way.

A greedy chain does better than llama.cpp's server on a refusal: the token it wants is the likeliest
one the grammar allows, so it tries the next likeliest in turn (a few microseconds each) instead of
matching the whole vocabulary (8 ms for SmolLM2's 49,152 tokens, most often at an answer's first token,
where the model would start in prose).

A chain that is greedy alone (temperature 0, no penalties) is the first highest logit: numpy finds it in
the logits llama.cpp left, without copying the vocabulary into candidates first (20 µs a token instead of
135 µs here, the same token); beside a grammar, that token is checked and the candidates are loaded only
when the grammar refuses it.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import llama_cpp as lc
import numpy as np
from ember.backend.errors import InvalidRequest
from ember.backend.parameters import Options

RANDOM_SEED = 0xFFFFFFFF  # llama.cpp picks a fresh seed
TRIES = 64  # the likeliest tokens a greedy chain checks against the grammar before the full pass
TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])  # llama_token_data
assert TOKEN_DATA.itemsize == ctypes.sizeof(lc.llama_token_data)


class Candidates:
    """Every token's logit at one row of a batch, in the array llama.cpp's samplers work on in place."""

    def __init__(self, n_vocab: int) -> None:
        self.n_vocab = n_vocab
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._data = np.zeros(n_vocab, TOKEN_DATA)
        self._data["id"] = self._ids
        self._pointer = self._data.ctypes.data_as(lc.llama_token_data_p)
        self._array = lc.llama_token_data_array(self._pointer, n_vocab, -1, False)
        self.ref = ctypes.byref(self._array)

    def load(self, ctx: lc.llama_context_p, idx: int, *, in_place: bool = False) -> None:
        """Row `idx`'s logits, every token in id order. `in_place`: the samplers used since the last load
        changed logits only (penalties, greedy, a grammar), so ids and probabilities are still in place
        and only the logits are written."""
        logits = np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, idx), shape=(self.n_vocab,))
        data = self._data
        if in_place:
            data["logit"] = logits
        else:
            data["id"], data["logit"], data["p"] = self._ids, logits, 0.0
        array = self._array
        # llama-cpp-python declares these fields by their C types; ctypes reads and writes Python ints
        array.data, array.size, array.selected, array.sorted = cast(Any, self._pointer), self.n_vocab, -1, False

    @property
    def selected(self) -> int:
        return cast(int, self._array.data[self._array.selected].id)

    def likeliest(self, allowed: Callable[[int], bool], tries: int) -> int | None:
        """The token of highest logit (the first of equals, as llama.cpp's greedy sampler takes it) for
        which `allowed` holds, trying at most `tries` tokens; None when none of them is."""
        logits, ids = self._data["logit"], self._data["id"]
        for _ in range(min(tries, self._array.size)):
            at = int(np.argmax(logits[: self._array.size]))
            if logits[at] == -np.inf:
                return None
            if allowed(int(ids[at])):
                return int(ids[at])
            logits[at] = -np.inf
        return None


@dataclass
class Scored:
    """A sampled token, its log probability among the candidates the chain left, and the likeliest of them."""

    token: int
    logprob: float
    top: list[tuple[int, float]]


class SamplerChain:
    """Owns a llama.cpp sampler chain (and grammar); free it with close() (or let the runner do it)."""

    def __init__(self, vocab: lc.llama_vocab_p, n_vocab: int, options: Options, grammar: str | None = None):
        self.chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        self.grammar = None
        if grammar:
            self.grammar = lc.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
            if not self.grammar:
                self.close()
                raise InvalidRequest("the output format could not be turned into a grammar")
            self._candidates = Candidates(n_vocab)
            self._one = lc.llama_token_data()
            self._one_array = lc.llama_token_data_array(ctypes.pointer(self._one), 1, -1, False)
        add = lambda sampler: lc.llama_sampler_chain_add(self.chain, sampler)  # noqa: E731
        o = options
        # penalties then greedy: logits change in place, the candidates are never reordered or cut
        self.greedy = o.temperature <= 0
        self.n_vocab = n_vocab
        last_n = o.num_ctx if o.repeat_last_n == -1 else o.repeat_last_n
        penalised = bool(last_n and (o.repeat_penalty != 1.0 or o.frequency_penalty or o.presence_penalty))
        if penalised:
            add(lc.llama_sampler_init_penalties(n_vocab, last_n, o.repeat_penalty,
                                                o.frequency_penalty, o.presence_penalty))
        self.argmax = self.greedy and not penalised  # greedy is all the chain does (beside a grammar)
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

    def sample(self, ctx: lc.llama_context_p, idx: int) -> int:
        """The next token from row `idx` of the last batch's logits, accepted by the chain (and grammar)."""
        if self.argmax and (logits := lc.llama_get_logits_ith(ctx, idx)):
            token = int(np.ctypeslib.as_array(logits, shape=(self.n_vocab,)).argmax())  # the first of equals
            if self.grammar is None:
                return token
            if self._fits(token):
                lc.llama_sampler_accept(self.grammar, token)
                return token
        elif self.grammar is None:
            return lc.llama_sampler_sample(self.chain, ctx, idx)
        candidates = self._candidates
        candidates.load(ctx, idx, in_place=self.greedy)
        lc.llama_sampler_apply(self.chain, candidates.ref)
        token = candidates.selected
        if not self._fits(token):
            found = candidates.likeliest(self._fits, TRIES) if self.greedy else None
            if found is None:  # the whole vocabulary through the grammar, then the chain again
                candidates.load(ctx, idx, in_place=self.greedy)
                lc.llama_sampler_apply(self.grammar, candidates.ref)
                lc.llama_sampler_apply(self.chain, candidates.ref)
                found = candidates.selected
            token = found
        lc.llama_sampler_accept(self.grammar, token)
        lc.llama_sampler_accept(self.chain, token)
        return token

    def _fits(self, token: int) -> bool:
        one, array = self._one, self._one_array
        one.id, one.logit, one.p = cast(Any, token), 1.0, 0.0
        array.size, array.selected, array.sorted = 1, -1, False
        lc.llama_sampler_apply(self.grammar, ctypes.byref(array))
        return not math.isinf(one.logit)

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
        if self.grammar is not None:
            lc.llama_sampler_apply(self.grammar, ctypes.byref(candidates))
        lc.llama_sampler_apply(self.chain, ctypes.byref(candidates))
        kept = cells[: candidates.size]
        chosen = int(candidates.selected)
        token = int(kept["id"][chosen])
        if self.grammar is not None:
            lc.llama_sampler_accept(self.grammar, token)
        lc.llama_sampler_accept(self.chain, token)
        logits = kept["logit"].astype(np.float64)
        allowed = np.isfinite(logits)
        peak = logits[allowed].max() if allowed.any() else 0.0
        logprobs = np.where(allowed, logits - peak, -np.inf)
        logprobs -= np.log(np.exp(logprobs[allowed]).sum()) if allowed.any() else 0.0
        best: list[tuple[int, float]] = []
        if top > 0:
            count = min(top, int(allowed.sum()))
            order = np.argpartition(-logprobs, count - 1)[:count] if count else np.empty(0, np.intp)
            best = sorted(((int(kept["id"][i]), float(logprobs[i])) for i in order), key=lambda t: -t[1])
        return Scored(token, float(logprobs[chosen]), best)

    def close(self) -> None:
        if self.chain:
            lc.llama_sampler_free(self.chain)
            self.chain = None
        if self.grammar:
            lc.llama_sampler_free(self.grammar)
            self.grammar = None
