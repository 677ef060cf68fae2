"""What the benchmarks share: the model, prompts, a bare llama.cpp context, and the result table."""

from __future__ import annotations

import platform
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODEL = "smollm2:135m"
STORY = "Write a long, detailed story about a lighthouse keeper and the sea."
LONG_PROMPT = "Summarise these notes in three bullet points.\n" + " ".join(
    f"Note {i}: the keeper climbed the stairs, trimmed the wick, wrote the weather in the log." for i in range(20))


@dataclass
class Row:
    """One figure next to its baseline from the same run."""

    what: str
    value: float
    baseline: float
    unit: str
    target: str = ""
    baseline_is: str = ""
    paired: list[float] | None = None  # per-round ratios: their median resists a busy machine's drift

    @property
    def ratio(self) -> float:
        if self.paired:
            return statistics.median(self.paired)
        return self.value / self.baseline if self.baseline else 0.0


def paired_row(what: str, values: list[float], baselines: list[float], unit: str, target: str,
               baseline_is: str) -> Row:
    """Medians of alternating rounds, and the median of each round's own ratio."""
    return Row(what, statistics.median(values), statistics.median(baselines), unit, target, baseline_is,
               [v / b for v, b in zip(values, baselines, strict=True) if b])


def model_path() -> Path:
    from ember.backend.pull.packages import PACKAGED_MODELS, find_packaged_gguf

    return find_packaged_gguf(PACKAGED_MODELS[MODEL])


def chat_tokens(runner, messages) -> list[int]:
    """The prompt ember would send for `messages` (role, text) pairs."""
    from ember.backend.prompt.jinja import render_chat
    from ember.backend.store.ggufmeta import read_gguf_meta
    from ember.backend.types import Message

    template = read_gguf_meta(runner.path).chat_template
    text = render_chat(template, [Message(role, content) for role, content in messages])
    return runner.tokenize(text, add_special=False)


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    import os

    return f"{platform.machine()} {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def print_table(rows: list[Row], title: str = "") -> None:
    if title:
        print(title)
    print(f"| {'measure':40} | {'ember':>12} | {'baseline':>12} | {'ratio':>6} | {'target':10} | baseline is")
    print(f"|{'-' * 42}|{'-' * 14}|{'-' * 14}|{'-' * 8}|{'-' * 12}|---")
    for r in rows:
        print(f"| {r.what:40} | {number(r.value):>8} {r.unit:>3} | {number(r.baseline):>8} {r.unit:>3} | {r.ratio:6.2f} "
              f"| {r.target:10} | {r.baseline_is}")
