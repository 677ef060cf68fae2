"""Parallel requests: the aggregate decode rate of 4 concurrent streams against 1 stream, same run.

Usage: .venv/bin/python bench/parallel.py [--streams 4] [--tokens 96] [--rounds 3]
"""

from __future__ import annotations

import argparse
import threading

from common import Row, chat_tokens, machine, model_path, paired_row, print_table

TOPICS = ["a lighthouse keeper", "a mountain village", "a lost robot", "a river journey", "an old library",
          "a desert caravan", "a space station", "a winter forest"]


def prompts_for(runner, streams: int) -> list[list[int]]:
    return [chat_tokens(runner, [("user", f"Write a long story about {TOPICS[i % len(TOPICS)]}.")])
            for i in range(streams)]


def aggregate_rate(runner, streams: int, tokens: int) -> float:
    """Decoded tokens per second over all streams together. Like the bare loop, which evaluates every
    prompt before its clock starts, the prompts are evaluated first (a one-token answer each), so the
    timed answers decode from cached prompts and no stream's prompt lands in another's decode time."""
    from ember.backend.parameters import Options

    runner.forget()
    options = Options.merge({"temperature": 0, "num_predict": tokens, "repeat_penalty": 1.0,
                             "num_ctx": runner.num_ctx})
    prompts = prompts_for(runner, streams)
    counts, spans = [0] * streams, [0] * streams

    def run_all(answer) -> None:  # type: ignore[no-untyped-def]
        barrier = threading.Barrier(streams + 1)

        def consume(i: int) -> None:
            barrier.wait()
            answer(i)

        threads = [threading.Thread(target=consume, args=(i,)) for i in range(streams)]
        for t in threads:
            t.start()
        barrier.wait()
        for t in threads:
            t.join()

    first = Options.merge(options.to_dict(), {"num_predict": 1})
    run_all(lambda i: list(runner.generate(prompts[i], first)))

    def timed(i: int) -> None:
        final = list(runner.generate(prompts[i], options))[-1]
        counts[i], spans[i] = final.timings.eval_count, final.timings.eval_duration

    run_all(timed)
    return sum(counts) / (max(spans) / 1e9)  # the streams decode at the same time

def measure(runner, bare, *, streams: int = 4, tokens: int = 96, rounds: int = 3) -> list[Row]:
    aggregate_rate(runner, 1, 8)  # warm up
    prompts = prompts_for(runner, streams)
    one, many, bare_many = [], [], []
    for _ in range(rounds):
        one.append(aggregate_rate(runner, 1, tokens))
        many.append(aggregate_rate(runner, streams, tokens))
        bare_many.append(bare.decode_together(prompts, tokens))
    return [
        paired_row(f"{streams} streams, aggregate decode", many, one, "t/s", ">= 1.5", "1 stream, same engine"),
        paired_row(f"{streams} streams, aggregate decode", many, bare_many, "t/s", ">= 0.97",
                   f"bare llama.cpp, {streams} seqs/batch"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from bare import BareContext
    from ember.backend.engine.runner import Runner, default_threads

    runner = Runner(model_path(), num_ctx=2048, num_parallel=args.streams)
    bare = BareContext(runner.model, num_ctx=2048, threads=default_threads(), sequences=args.streams)
    rows = measure(runner, bare, streams=args.streams, tokens=args.tokens, rounds=args.rounds)
    print_table(rows, machine())
    bare.close()
    runner.close()


if __name__ == "__main__":
    main()
