"""The sampler's CPU time per token of a greedy JSON answer, four ways, alternating in one process:
the grammar applied to the whole vocabulary every token (the grammar first in the C chain, as ember
did), sampling first and checking only the chosen token with the whole vocabulary matched when it is
refused (as llama-server does), the same with the likeliest allowed token looked for first on a refusal
(ember's SamplerChain), and no grammar at all.

Measured as this thread's CPU time (thread_time_ns), so a busy machine barely moves it; the two
constrained answers must be identical token for token. Usage: .venv/bin/python bench/sampler_cost.py [ROUNDS]
"""

from __future__ import annotations

import ctypes
import statistics
import sys
import time

import llama_cpp as lc
from common import chat_tokens, model_path


class GrammarInChain:
    """The previous way: grammar, then greedy, in one C chain over every token of the vocabulary."""

    def __init__(self, vocab: object, grammar: str) -> None:
        self.chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        lc.llama_sampler_chain_add(self.chain, lc.llama_sampler_init_grammar(vocab, grammar.encode(), b"root"))
        lc.llama_sampler_chain_add(self.chain, lc.llama_sampler_init_greedy())

    def sample(self, ctx: object, idx: int) -> int:
        return lc.llama_sampler_sample(self.chain, ctx, idx)

    def close(self) -> None:
        lc.llama_sampler_free(self.chain)


def answer(runner, prompt: list[int], sampler, limit: int) -> tuple[list[int], float]:  # noqa: ANN001
    """A greedy answer decoded one token at a time, and the sampler's CPU nanoseconds per token."""
    ctx = runner.loop.ctx
    lc.llama_memory_seq_rm(runner.loop.memory, -1, -1, -1)
    tokens = (ctypes.c_int32 * len(prompt))(*prompt)
    assert lc.llama_decode(ctx, lc.llama_batch_get_one(tokens, len(prompt))) == 0
    out, cpu = [], 0
    for _ in range(limit):
        start = time.thread_time_ns()
        token = sampler.sample(ctx, -1)
        cpu += time.thread_time_ns() - start
        if lc.llama_vocab_is_eog(runner.vocab, token):
            break
        out.append(token)
        one = (ctypes.c_int32 * 1)(token)
        assert lc.llama_decode(ctx, lc.llama_batch_get_one(one, 1)) == 0
    sampler.close()
    return out, cpu / max(1, len(out))


def main() -> None:
    from ember.backend.engine import sampler
    from ember.backend.engine.runner import Runner
    from ember.backend.engine.sampler import SamplerChain
    from ember.backend.parameters import Options
    from ember.backend.prompt.grammar import grammar_for_format

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    runner = Runner(model_path(), num_ctx=512, num_parallel=1)
    prompt = chat_tokens(runner, [("user", "Describe a cat as JSON.")])
    grammar = grammar_for_format("json")
    greedy = Options.merge({"temperature": 0, "repeat_penalty": 1.0})  # no penalties: the chain above has none
    costs: dict[str, list[float]] = {"grammar over the vocabulary": [], "sample, check, full pass": [],
                                     "sample, check, likeliest": [], "no grammar": []}
    tries = sampler.TRIES
    for _ in range(rounds):
        before, cost = answer(runner, prompt, GrammarInChain(runner.vocab, grammar), 48)
        costs["grammar over the vocabulary"].append(cost)
        sampler.TRIES = 0
        full, cost = answer(runner, prompt, SamplerChain(runner.vocab, runner.n_vocab, greedy, grammar), 48)
        costs["sample, check, full pass"].append(cost)
        sampler.TRIES = tries
        now, cost = answer(runner, prompt, SamplerChain(runner.vocab, runner.n_vocab, greedy, grammar), 48)
        costs["sample, check, likeliest"].append(cost)
        assert before == full == now, "the greedy answers differ"
        costs["no grammar"].append(answer(runner, prompt, SamplerChain(runner.vocab, runner.n_vocab, greedy), 48)[1])
    runner.close()
    print(f"sampler CPU per token over a {len(now)}-token greedy JSON answer (identical both ways), {rounds} rounds:")
    for what, values in costs.items():
        print(f"  {what:28} {statistics.median(values) / 1e6:7.3f} ms")


if __name__ == "__main__":
    main()
