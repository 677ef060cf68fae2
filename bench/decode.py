"""Decode speed: ember's Runner against a bare llama-cpp-python low-level loop, same model, same run.

Prints tok/s for each and the median of the rounds' ratios (target >= 0.97). Rounds alternate so both
see the same machine; prefill is compared the same way on a ~400-token prompt.
Usage: .venv/bin/python bench/decode.py [--tokens 64] [--rounds 9] [--threads N]
"""

from __future__ import annotations

import argparse

from common import LONG_PROMPT, STORY, Row, chat_tokens, machine, model_path, paired_row, print_table


def ember_decode(runner, prompt: list[int], n_tokens: int) -> float:
    from ember.backend.parameters import Options

    runner.forget()
    options = Options.merge({"temperature": 0, "num_predict": n_tokens, "repeat_penalty": 1.0,
                             "num_ctx": runner.num_ctx})
    final = list(runner.generate(prompt, options))[-1]
    return final.timings.eval_rate


def measure(runner, bare, *, tokens: int, rounds: int) -> list[Row]:
    prompt = chat_tokens(runner, [("user", STORY)])
    long = chat_tokens(runner, [("user", LONG_PROMPT)])
    bare.decode(prompt, 16)  # warm up
    ember_decode(runner, prompt, 16)
    b, e, bp, ep = [], [], [], []
    for _ in range(rounds):
        b.append(bare.decode(prompt, tokens))
        e.append(ember_decode(runner, prompt, tokens))
        bp.append(len(long) / bare.prefill(long))
        ep.append(ember_prefill(runner, long))
    return [
        paired_row(f"decode, 1 stream ({tokens} t)", e, b, "t/s", ">= 0.97", "bare llama.cpp loop"),
        paired_row(f"prefill ({len(long)} t)", ep, bp, "t/s", ">= 0.97", "bare llama_decode"),
    ]


def ember_prefill(runner, prompt: list[int]) -> float:
    from ember.backend.parameters import Options

    runner.forget()
    final = list(runner.generate(prompt, Options.merge({"temperature": 0, "num_predict": 1,
                                                        "num_ctx": runner.num_ctx})))[-1]
    return final.timings.prompt_eval_rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    from bare import BareContext
    from ember.backend.engine.runner import Runner, default_threads

    threads = args.threads or default_threads()
    runner = Runner(model_path(), num_ctx=2048, num_thread=threads)
    bare = BareContext(runner.model, num_ctx=2048, threads=threads)
    rows = measure(runner, bare, tokens=args.tokens, rounds=args.rounds)
    print_table(rows, f"{machine()}; SmolLM2-135M-Instruct Q4_1, {threads} threads, {args.rounds} rounds")
    bare.close()
    runner.close()


if __name__ == "__main__":
    main()
