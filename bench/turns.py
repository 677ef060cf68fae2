"""Cached prefixes: time to first token at turn 10 of a conversation against turn 1, same run.

Each turn adds a user message of the same length; the previous turns stay in the slot's KV cache,
so only the new tokens are evaluated. A turn 10 with the cache emptied shows what the cache saves.
Usage: .venv/bin/python bench/turns.py [--turns 10] [--answer 48]
"""

from __future__ import annotations

import argparse
import time

from common import Row, chat_tokens, machine, model_path, print_table


def first_token_seconds(runner, prompt: list[int], answer: int) -> tuple[float, str, int]:
    """(seconds to the first chunk of text, the answer, prompt tokens evaluated)."""
    from ember.backend.parameters import Options

    options = Options.merge({"temperature": 0, "num_predict": answer, "num_ctx": runner.num_ctx})
    start = time.perf_counter()
    first, text, evaluated = 0.0, "", 0
    for chunk in runner.generate(prompt, options):
        if chunk.text and not first:
            first = time.perf_counter() - start
        text += chunk.text
        if chunk.done:
            evaluated = chunk.timings.prompt_evaluated
    return first, text, evaluated


def conversation(runner, turns: int, answer: int) -> tuple[list[float], list[int], float]:
    """TTFT of every turn with the cache, and of the last turn again with the cache emptied."""
    runner.forget()
    messages: list[tuple[str, str]] = [("system", "You are a helpful assistant who answers briefly.")]
    ttft, evaluated = [], []
    prompt: list[int] = []
    for n in range(1, turns + 1):
        messages.append(("user", f"Tell me one short fact about the number {n * 7}, please."))
        prompt = chat_tokens(runner, messages)
        seconds, text, count = first_token_seconds(runner, prompt, answer)
        ttft.append(seconds)
        evaluated.append(count)
        messages.append(("assistant", text))
    runner.forget()
    cold, _, _ = first_token_seconds(runner, prompt, answer)
    return ttft, evaluated, cold


def measure(runner, *, turns: int = 10, answer: int = 48, rounds: int = 3) -> list[Row]:
    conversation(runner, 2, 8)  # warm up
    first, last, cold, new_tokens = [], [], [], []
    for _ in range(rounds):
        ttft, evaluated, uncached = conversation(runner, turns, answer)
        first.append(ttft[0])
        last.append(ttft[-1])
        cold.append(uncached)
        new_tokens.append(evaluated[-1])
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    return [
        Row(f"TTFT turn {turns} ({med(new_tokens)} new tokens)", med(last) * 1000, med(first) * 1000, "ms",
            "<= 1.2", "TTFT turn 1"),
        Row(f"TTFT turn {turns}, cached", med(last) * 1000, med(cold) * 1000, "ms", "< 1",
            f"turn {turns}, cache emptied"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--answer", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from ember.backend.engine.runner import Runner

    runner = Runner(model_path(), num_ctx=4096)
    print_table(measure(runner, turns=args.turns, answer=args.answer, rounds=args.rounds), machine())
    runner.close()


if __name__ == "__main__":
    main()
