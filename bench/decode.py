"""Decode speed: ember's Runner against a bare llama-cpp-python low-level loop, same model, same run.

Prints tok/s for each and their ratio (target >= 0.97). Rounds alternate so both see the same machine.
Usage: .venv/bin/python bench/decode.py [--tokens 128] [--rounds 5] [--threads N]
"""

from __future__ import annotations

import argparse
import ctypes
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import llama_cpp as lc  # noqa: E402

from backend.engine.runner import Runner, default_threads  # noqa: E402
from backend.ggufmeta import read_gguf_meta  # noqa: E402
from backend.parameters import Options  # noqa: E402
from backend.pull.packages import PACKAGED_MODELS, find_packaged_gguf  # noqa: E402
from backend.templates import render_chat  # noqa: E402
from backend.types import Message  # noqa: E402

PROMPT = "Write a long, detailed story about a lighthouse keeper and the sea."


def bare_decode(runner: Runner, prompt: list[int], n_tokens: int) -> float:
    """The reference: llama.cpp's own loop through the ctypes bindings, nothing else per token."""
    lc.llama_memory_clear(runner.memory, True)
    runner._tokens = []
    chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
    array = (lc.llama_token * len(prompt))(*prompt)
    lc.llama_decode(runner.ctx, lc.llama_batch_get_one(array, len(prompt)))
    buf = ctypes.create_string_buffer(256)
    one = (lc.llama_token * 1)()
    start = time.perf_counter()
    count = 0
    for _ in range(n_tokens):
        token = lc.llama_sampler_sample(chain, runner.ctx, -1)
        if lc.llama_vocab_is_eog(runner.vocab, token):
            break
        lc.llama_token_to_piece(runner.vocab, token, buf, 256, 0, False)
        count += 1
        one[0] = token
        lc.llama_decode(runner.ctx, lc.llama_batch_get_one(one, 1))
    elapsed = time.perf_counter() - start
    lc.llama_sampler_free(chain)
    lc.llama_memory_clear(runner.memory, True)
    return count / elapsed


def ember_decode(runner: Runner, prompt: list[int], n_tokens: int) -> float:
    runner._forget()
    options = Options.merge({"temperature": 0, "num_predict": n_tokens, "repeat_penalty": 1.0,
                             "num_ctx": runner.num_ctx})
    final = list(runner.generate(prompt, options))[-1]
    runner._forget()
    return final.timings.eval_rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=default_threads())
    args = parser.parse_args()
    path = find_packaged_gguf(PACKAGED_MODELS["smollm2:135m"])
    runner = Runner(path, num_ctx=2048, num_thread=args.threads)
    text = render_chat(read_gguf_meta(path).chat_template, [Message("user", PROMPT)])
    prompt = runner.tokenize(text, add_special=False)
    bare_decode(runner, prompt, 16)  # warm up
    bare, ember = [], []
    for _ in range(args.rounds):
        bare.append(bare_decode(runner, prompt, args.tokens))
        ember.append(ember_decode(runner, prompt, args.tokens))
    b, e = statistics.median(bare), statistics.median(ember)
    print(f"machine: {platform.machine()} {platform.processor() or ''} threads={args.threads} "
          f"model=SmolLM2-135M-Instruct Q4_1 tokens={args.tokens} rounds={args.rounds}")
    print(f"{'':24}{'tok/s':>10}")
    print(f"{'bare llama.cpp loop':24}{b:10.1f}")
    print(f"{'ember Runner':24}{e:10.1f}")
    print(f"{'ratio (target >= 0.97)':24}{e / b:10.3f}")
    runner.close()


if __name__ == "__main__":
    main()
