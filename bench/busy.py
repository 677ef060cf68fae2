"""ember and llama-server decoding while another process keeps a core busy, as a build in another terminal
does: llama.cpp's threads wait for each other at every operation, so a step with as many threads as cores
stalls whenever the other process has a core. ember then decodes with the cores left (backend.engine.cpushare);
llama-server keeps its threads. The busy process runs in a session of its own (a terminal's), at the
default priority, through all the rounds; the rounds alternate between the servers as bench/anchor.py's do.
Usage: .venv/bin/python bench/busy.py [--rounds N] [--tokens N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from anchor import Ember, LlamaServer
from common import STORY, Row, machine, model_path, paired_row, print_table


def measure(*, rounds: int = 3, tokens: int = 16) -> list[Row]:
    from ember.backend.engine.runner import default_threads
    from ember.backend.prompt.jinja import render_chat
    from ember.backend.store.ggufmeta import read_gguf_meta
    from ember.backend.types import Message
    from llama_build import build

    binaries, gguf = build(), model_path()
    story = render_chat(read_gguf_meta(gguf).chat_template, [Message("user", STORY)])
    rates: dict[str, list[float]] = {"ember": [], "llama-server": []}
    with tempfile.TemporaryDirectory() as home:
        engines = [Ember(Path(home), parallel=1, num_ctx=2048),
                   LlamaServer(binaries, gguf, parallel=1, num_ctx=2048, threads=default_threads())]
        try:
            for engine in engines:  # loaded and warm while the machine is quiet
                engine.generate(story, 8)
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
            try:
                for n in range(rounds):
                    for engine in engines if n % 2 == 0 else engines[::-1]:
                        rates[engine.name].append(engine.generate(story, tokens).rate)
            finally:
                busy.kill()
                busy.wait()
        finally:
            for engine in engines:
                engine.close()
    return [paired_row(f"decode beside a busy process ({tokens} t)", rates["ember"], rates["llama-server"], "t/s",
                       "", "llama-server")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=16, help="few: llama-server may decode one a few seconds")
    args = parser.parse_args()
    print_table(measure(rounds=args.rounds, tokens=args.tokens), machine())


if __name__ == "__main__":
    main()
