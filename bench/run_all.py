"""Every benchmark in one run, printed as one table: each figure next to its baseline from this run.

The first rows are ember against llama.cpp's own llama-server (bench/anchor.py), built once from the
same llama.cpp tree as the bindings (bench/llama_build.py: the first run adds the build's minutes).

Usage: .venv/bin/python bench/run_all.py [--quick]   (make bench)
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from common import Row, machine, model_path, print_table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a rough table in about a minute")
    args = parser.parse_args()
    rounds = 3 if args.quick else 9
    import anchor
    import app_start
    import bare
    import busy
    import decode
    import parallel
    import server
    import startup
    import turns
    from ember.backend.engine.runner import Runner, default_threads

    threads = default_threads()
    started = time.monotonic()
    rows: list[Row] = anchor.measure(rounds=3 if args.quick else 5, long=1000 if args.quick else 4000)
    rows += busy.measure(rounds=3 if args.quick else 5)
    runner = Runner(model_path(), num_ctx=2048, num_thread=threads)
    single = bare.BareContext(runner.model, num_ctx=2048, threads=threads)
    rows += decode.measure(runner, single, tokens=64, rounds=rounds)
    single.close()
    together = bare.BareContext(runner.model, num_ctx=2048, threads=threads, sequences=runner.num_parallel)
    rows += parallel.measure(runner, together, streams=runner.num_parallel, tokens=64, rounds=max(3, rounds // 2))
    together.close()
    rows += turns.measure(runner, rounds=3)  # the median of three: one conversation alone is noisy
    runner.close()
    with tempfile.TemporaryDirectory() as home:
        rows += startup.measure(Path(home) / "startup", runs=10)
        if shutil.which("tmux"):
            rows += app_start.measure(Path(home) / "app", runs=3 if args.quick else 5)
        rows += server.measure(Path(home) / "server", tokens=64, rounds=rounds)
    print_table(rows, f"{machine()}; SmolLM2-135M-Instruct Q4_1, {threads} threads; "
                      f"{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
