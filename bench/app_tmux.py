"""Decode speed with the app attached, in a real terminal: the real app in tmux (80x24,
TERM=screen-256color) answering a question with code at the end of a long conversation (seeded through
the history, then opened with Ctrl+F, Enter; each round is Ctrl+R, the same request again), against
the same request headless (Backend.chat in this process), alternating rounds. The app's figure is the
one it prints under the answer (`N tokens in · N out · N s · N tok/s`), the headless one the answer's
own timings. Both answer once untimed first (measure() says why). Target: ratio >= 0.97 for a
~300-token answer in a 50-message conversation.

Usage: .venv/bin/python bench/app_tmux.py [--tokens 300] [--rounds 8] [--messages 50] [--think]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path

from common import ROOT, Row, machine, paired_row, print_table

EMBER = Path(sys.executable).parent / "ember"
MODEL = "smollm2:135m"
THINKER = "bench/thinks"  # --think: the same weights with a template that opens <think>, as thinking models do
THINKER_MODELFILE = f'''FROM {MODEL}
TEMPLATE """{{{{- range .Messages }}}}<|im_start|>{{{{ .Role }}}}
{{{{ .Content }}}}<|im_end|>
{{{{ end }}}}<|im_start|>assistant
{{{{ if .Think }}}}<think>
{{{{ end }}}}"""
'''
QUESTION = ("Write a Python module with a class Inventory that adds, removes and lists items, with "
            "docstrings, and explain each method after the code.")
FIGURES = re.compile(r"(\d+) tokens in · (\d+) out · [\d.]+ s · ([\d.]+) tok/s")
# seconds between looks at the screen while an answer streams. Each look is a tmux client started and the
# pane rendered to text, a few ms of CPU taken from the decode on a small machine, which a user watching
# the screen does not pay; the figures are the app's own, so a late look does not change them
POLL = 2.0


def seeded_turns(messages: int) -> list[tuple[str, str]]:
    """A conversation of `messages` turns (questions and answers with code), as a daily user's grows."""
    turns = []
    for n in range(messages):
        if n % 2 == 0:
            turns.append(("user", f"Question {n // 2 + 1}: how do I double every number in a list in Python?"))
        else:
            turns.append(("assistant", f"Use a comprehension (variant {n // 2 + 1}):\n\n```python\n"
                                       f"def double_{n}(values):\n    return [v * 2 for v in values]\n```\n\n"
                                       "It returns a new list and leaves the old one as it was."))
    if turns and turns[-1][0] == "user":
        turns.pop()  # the question asked in each round follows an answer
    return turns


class Terminal:
    """A private tmux server (its own socket) running one app at 80x24."""

    def __init__(self, env: dict[str, str]) -> None:
        self.socket, self.env = f"ember-bench-tmux-{os.getpid()}", env

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              env=self.env).stdout

    def start(self, command: str) -> None:
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "bench", "-x", "80", "-y", "24", command)
        self.tmux("set-option", "-s", "escape-time", "50")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "bench")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "bench", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "bench", "-l", text)
        self.keys("Enter")

    def until(self, done: Callable[[str], bool], timeout: float = 600, poll: float = 0.05) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if done(screen):
                return screen
            if time.monotonic() > deadline:
                raise TimeoutError(f"the app did not get there in time; its screen:\n{screen}")
            time.sleep(poll)

    def close(self) -> None:
        self.tmux("kill-server")


def last_figures(screen: str) -> tuple[int, float] | None:
    """The newest answer's (tokens out, tok/s) as printed under it, when on screen."""
    found = FIGURES.findall(screen)
    return (int(found[-1][1]), float(found[-1][2])) if found else None


def through_app(term: Terminal, first: bool) -> tuple[int, float]:
    """One answer in the app: the question at first, then Ctrl+R (the same request); its figures."""
    if first:
        term.type(QUESTION)
    else:
        term.keys("C-r")
        term.until(lambda s: last_figures(s) is None or "answering" in s or "thinking" in s)
    screen = term.until(lambda s: last_figures(s) is not None and "answering" not in s and "thinking" not in s,
                        poll=POLL)
    figures = last_figures(screen)
    assert figures is not None
    return figures


async def headless(backend, model: str, turns: list[tuple[str, str]],  # type: ignore[no-untyped-def]
                   options: dict[str, object]) -> tuple[int, float]:
    from ember.backend.types import ChatRequest, Message

    messages = [Message(role, text) for role, text in turns] + [Message("user", QUESTION)]
    async with aclosing(backend.chat(ChatRequest(model=model, messages=messages, options=options))) as chunks:
        async for chunk in chunks:
            if chunk.done and chunk.timings:
                return chunk.timings.eval_count, chunk.timings.eval_rate
    raise RuntimeError("the answer ended without its timings")


def measure(home: Path, *, tokens: int = 300, rounds: int = 6, messages: int = 50, think: bool = False) -> list[Row]:
    env = {**os.environ, "TERM": "screen-256color", "EMBER_DATA": str(home / "data"),
           "EMBER_CONFIG": str(home / "config"), "EMBER_MODELS": str(home / "models"), "EMBER_IN_PROCESS": "1"}
    for name in ("EMBER_HOST", "TMUX", "EMBER_DEFAULT_MODEL"):
        env.pop(name, None)
    os.environ.update({k: env[k] for k in ("EMBER_DATA", "EMBER_CONFIG", "EMBER_MODELS")})
    subprocess.run([str(EMBER), "pull", MODEL], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    model = MODEL
    if think:  # the answer streams its thinking first, folded above it in the app
        (home / "Modelfile").write_text(THINKER_MODELFILE)
        subprocess.run([str(EMBER), "create", THINKER, "-f", str(home / "Modelfile")], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        model = THINKER
    from ember.backend.config import load_config
    from ember.backend.history import History
    from ember.backend.local.local_backend import LocalBackend

    turns = seeded_turns(messages)
    history = History()
    conversation = history.new_conversation(model=model)
    for role, text in turns:
        history.add_message(conversation.id, role, text, model=model if role == "assistant" else "")
    history.close()
    options: dict[str, object] = {"temperature": 0, "num_predict": tokens, "repeat_penalty": 1.0, "seed": 1}

    backend = LocalBackend(load_config())
    loop = asyncio.new_event_loop()
    # Each side answers once untimed: the first answer reads the whole prompt (2,000 tokens), and the
    # last prompt token's logits then come from a batch of prompt rows instead of a one-row step, so greedy
    # decoding takes another path (another answer, another number of drafted rows). Every timed round
    # after it is the same request over the same cache on both sides: a retry.
    loop.run_until_complete(headless(backend, model, turns, options))
    term = Terminal(env)
    term.start(f"cd {ROOT} && {EMBER} run {model}")
    app_rounds: list[tuple[int, float]] = []
    bare_rounds: list[tuple[int, float]] = []
    try:
        term.until(lambda s: "ready" in s and "Message" in s, timeout=120)
        term.keys("C-f")
        term.until(lambda s: "Question 1" in s or "double" in s, timeout=30)
        term.keys("Enter")
        term.until(lambda s: "Message" in s and "ctx ~" in s, timeout=30)  # the conversation, opened
        for name, value in options.items():
            term.type(f"/set parameter {name} {value}")
        term.until(lambda s: "Set parameter 'seed' to '1'" in s, timeout=30)
        through_app(term, first=True)
        for number in range(rounds):
            # alternate which goes first, so neither always runs on a machine just warmed by the other
            if number % 2:
                app_rounds.append(through_app(term, first=False))
                bare_rounds.append(loop.run_until_complete(headless(backend, model, turns, options)))
            else:
                bare_rounds.append(loop.run_until_complete(headless(backend, model, turns, options)))
                app_rounds.append(through_app(term, first=False))
            print(f"round {number + 1}: headless {bare_rounds[-1][1]:.1f} tok/s ({bare_rounds[-1][0]} tokens), "
                  f"app in tmux {app_rounds[-1][1]:.1f} tok/s ({app_rounds[-1][0]} tokens)", flush=True)
    finally:
        term.keys("C-q")
        time.sleep(1)
        term.close()
        loop.run_until_complete(backend.close())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    out = sorted(n for n, _ in app_rounds)
    what = f"decode, app in tmux ({out[len(out) // 2]} tokens, {messages} msgs{', thinking' if think else ''})"
    return [paired_row(what,
                       [r for _, r in app_rounds], [r for _, r in bare_rounds], "t/s", ">= 0.97", "headless chat")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=300, help="the answer's length (num_predict)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--messages", type=int, default=50, help="the conversation's length before the question")
    parser.add_argument("--think", action="store_true", help="a thinking model: its thinking streams folded first")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("bench/app_tmux.py needs tmux for a real terminal")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ember-bench-") as home:
        rows = measure(Path(home), tokens=args.tokens, rounds=args.rounds, messages=args.messages, think=args.think)
    print_table(rows, machine())
    [row] = rows
    print("ratio of each round:", " ".join(f"{r:.2f}" for r in sorted(row.paired or [])))
    print(f"(took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
