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


def best_seconds(command: list[str], runs: int, env: dict[str, str]) -> float:
    """The fastest of `runs` starts: the least disturbed by whatever else the machine is doing."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        times.append(time.perf_counter() - start)
    return min(times)


def measure(home: Path, *, runs: int = 10) -> list[Row]:
    env = {**os.environ, "EMBER_DATA": str(home / "data"), "EMBER_CONFIG": str(home / "config"),
           "EMBER_MODELS": str(home / "models")}
    env.pop("EMBER_HOST", None)
    subprocess.run([str(EMBER), "pull", "smollm2:135m"], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    python = best_seconds([sys.executable, "-c", "pass"], runs, env)
    version = best_seconds([str(EMBER), "--version"], runs, env)
    listing = best_seconds([str(EMBER), "list"], runs, env)
    return [
        Row("ember --version", version * 1000, python * 1000, "ms", "< 150 ms", "python -c pass"),
        Row("ember list (1 model)", listing * 1000, python * 1000, "ms", "< 300 ms", "python -c pass"),
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
