"""Decode speed with the app attached: the same chat request consumed headless, and through the Textual
app (streaming Markdown, status updates, history), alternating in one run. Target: ratio >= 0.95.

Usage: .venv/bin/python bench/app_decode.py [--tokens 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROMPT = "Write a long, detailed story about a lighthouse keeper and the sea, with a code example in Python."
MODEL = "smollm2:135m"


async def headless(backend, options: dict[str, object]) -> float:  # type: ignore[no-untyped-def]
    from ember.backend.types import ChatRequest, Message

    rate = 0.0
    async for chunk in backend.chat(ChatRequest(model=MODEL, messages=[Message("user", PROMPT)], options=options)):
        if chunk.done and chunk.timings:
            rate = chunk.timings.eval_rate
    return rate


async def through_app(app, pilot, options: dict[str, object]) -> float:  # type: ignore[no-untyped-def]
    chat = app.chat_screen()
    await chat.action_new_chat()
    app.session.overrides = dict(options)
    chat.prompt.text = PROMPT
    await pilot.press("enter")
    # plain sleeps: Pilot.pause() walks every widget each time, which a user at the keyboard never does
    while not chat.answering:
        await asyncio.sleep(0.01)
    while chat.answering:
        await asyncio.sleep(0.1)
    return chat.last_rate


async def run(tokens: int, rounds: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="ember-bench-"))
    os.environ.update(EMBER_DATA=str(home / "data"), EMBER_CONFIG=str(home / "config"))
    from ember.backend.config import Config
    from ember.backend.history import History
    from ember.backend.local.local_backend import LocalBackend
    from ember.backend.pull.packages import PACKAGED_MODELS, find_packaged_gguf
    from ember.backend.pull.register import register_gguf
    from ember.backend.store.modelstore import ModelStore
    from ember.backend.store.names import parse_name
    from ember.tui.app.app import EmberApp

    register_gguf(ModelStore(home / "models"), parse_name(MODEL), find_packaged_gguf(PACKAGED_MODELS[MODEL]))
    backend = LocalBackend(Config(models=home / "models", keep_alive="-1"))
    options = {"temperature": 0, "num_predict": tokens, "repeat_penalty": 1.0, "seed": 1}
    await headless(backend, {**options, "num_predict": 8})  # load and warm up
    app = EmberApp(backend, MODEL, history=History(home / "history.db"), personas=[], keymap={}, load_model=False)
    bare, attached = [], []
    async with app.run_test(size=(80, 24)) as pilot:
        for number in range(rounds):
            # alternate which goes first, so neither always runs on a machine just warmed by the other
            if number % 2:
                attached.append(await through_app(app, pilot, options))
                bare.append(await headless(backend, options))
            else:
                bare.append(await headless(backend, options))
                attached.append(await through_app(app, pilot, options))
    await backend.close()
    b, a = statistics.median(bare), statistics.median(attached)
    print("rounds, headless:", " ".join(f"{r:.1f}" for r in bare))
    print("rounds, attached:", " ".join(f"{r:.1f}" for r in attached))
    print(f"machine: {platform.machine()} {platform.processor() or ''} cores={os.cpu_count()} "
          f"model={MODEL} tokens={tokens} rounds={rounds}")
    print(f"{'':28}{'tok/s':>10}")
    print(f"{'headless Backend.chat':28}{b:10.1f}")
    print(f"{'with the app attached':28}{a:10.1f}")
    print(f"{'ratio (target >= 0.95)':28}{a / b:10.3f}")
    pairs = sorted(x / y for x, y in zip(attached, bare, strict=True))
    print(f"{'ratio of each round':28}" + " ".join(f"{r:.2f}" for r in pairs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    asyncio.run(run(args.tokens, args.rounds))
    print(f"(took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
