"""Start-up: `ember --version` and `ember list` against a bare Python interpreter start, same run.

Usage: .venv/bin/python bench/startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Row, machine, print_table

EMBER = Path(sys.executable).parent / "ember"
PROMPT = "Say hello."
# The same first token by hand in a fresh process: load the model, a context, evaluate, sample, print.
BARE_FIRST_TOKEN = """
import ctypes, sys
import llama_cpp as lc
model = lc.llama_model_load_from_file(sys.argv[1].encode(), lc.llama_model_default_params())
params = lc.llama_context_default_params()
params.n_ctx = 4096
ctx = lc.llama_init_from_model(model, params)
vocab = lc.llama_model_get_vocab(model)
text = sys.argv[2].encode()
tokens = (lc.llama_token * 512)()
n = lc.llama_tokenize(vocab, text, len(text), tokens, 512, True, True)
lc.llama_decode(ctx, lc.llama_batch_get_one(tokens, n))
chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
token = lc.llama_sampler_sample(chain, ctx, -1)
piece = ctypes.create_string_buffer(256)
size = lc.llama_token_to_piece(vocab, token, piece, 256, 0, False)
sys.stdout.buffer.write(piece.raw[:max(size, 1)] or b"?")
sys.stdout.flush()
"""


def best_seconds(command: list[str], runs: int, env: dict[str, str]) -> float:
    """The fastest of `runs` starts: the least disturbed by whatever else the machine is doing."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        times.append(time.perf_counter() - start)
    return min(times)


def first_output_seconds(command: list[str], runs: int, env: dict[str, str]) -> float:
    """The fastest of `runs` times from launching `command` to its first byte on stdout."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        assert process.stdout is not None
        process.stdout.read(1)
        times.append(time.perf_counter() - start)
        process.kill()
        process.wait()
    return min(times)


def chat_prompt(text: str) -> str:
    """The default model's chat template around one user message (ChatML)."""
    return f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"


def measure(home: Path, *, runs: int = 10) -> list[Row]:
    env = {**os.environ, "EMBER_DATA": str(home / "data"), "EMBER_CONFIG": str(home / "config"),
           "EMBER_MODELS": str(home / "models")}
    env.pop("EMBER_HOST", None)
    subprocess.run([str(EMBER), "pull", "smollm2:135m"], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    python = best_seconds([sys.executable, "-c", "pass"], runs, env)
    version = best_seconds([str(EMBER), "--version"], runs, env)
    listing = best_seconds([str(EMBER), "list"], runs, env)
    from common import model_path

    cold_runs = max(3, runs // 3)
    cold = first_output_seconds([str(EMBER), "run", "smollm2:135m", PROMPT], cold_runs, env)
    bare = first_output_seconds([sys.executable, "-c", BARE_FIRST_TOKEN, str(model_path()), chat_prompt(PROMPT)],
                                cold_runs, env)
    return [
        Row("ember --version", version * 1000, python * 1000, "ms", "< 150 ms", "python -c pass"),
        Row("ember list (1 model)", listing * 1000, python * 1000, "ms", "< 300 ms", "python -c pass"),
        Row("first token, cold (ember run)", cold * 1000, bare * 1000, "ms", "< 1000 ms",
            "new process, bare llama.cpp"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as home:
        print_table(measure(Path(home), runs=args.runs), machine())


if __name__ == "__main__":
    main()
