"""The app in a real terminal (tmux, 80x24): time to its first screen and time to quit, against a bare
Textual app measured in the same run. Targets: first screen < 1 s, quitting about as fast as the bare app.

Usage: .venv/bin/python bench/app_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import ROOT, Row, machine, print_table

EMBER = Path(sys.executable).parent / "ember"
BARE_APP = '''
from textual.app import App
from textual.widgets import Footer, Label

class Bare(App):
    BINDINGS = [("ctrl+q", "quit", "Quit")]
    def compose(self):
        yield Label("bare textual app ready")
        yield Footer()

Bare().run()
'''


class Terminal:
    def __init__(self, socket: str, env: dict[str, str]) -> None:
        self.socket, self.env = socket, env

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              env=self.env).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "bench")

    def until(self, done: Callable[[], bool], timeout: float = 60) -> float:
        start = time.perf_counter()
        while not done():
            if time.perf_counter() - start > timeout:
                raise TimeoutError(self.screen())
            time.sleep(0.01)
        return time.perf_counter() - start


def start_and_quit(command: str, ready: Callable[[str], bool], env: dict[str, str], run: int) -> tuple[float, float]:
    """Seconds from launch to `ready` on screen, and from Ctrl+Q to the process having exited."""
    with tempfile.TemporaryDirectory() as scratch:
        marker = Path(scratch) / "exited"
        term = Terminal(f"ember-bench-{os.getpid()}-{run}", env)
        start = time.perf_counter()
        term.tmux("-f", "/dev/null", "new-session", "-d", "-s", "bench", "-x", "80", "-y", "24",
                  f"{command}; touch {marker}; sleep 30")
        term.until(lambda: ready(term.screen()))
        first_screen = time.perf_counter() - start
        time.sleep(1.0)  # let start-up work behind the first screen settle, as a user would
        term.tmux("send-keys", "-t", "bench", "C-q")
        quit_seconds = term.until(marker.exists, timeout=30)
        term.tmux("kill-server")
        return first_screen, quit_seconds


def measure(home: Path, *, runs: int = 5) -> list[Row]:
    env = {**os.environ, "TERM": "screen-256color", "EMBER_DATA": str(home / "data"),
           "EMBER_CONFIG": str(home / "config"), "EMBER_MODELS": str(home / "models")}
    env.pop("EMBER_HOST", None)
    env.pop("TMUX", None)
    subprocess.run([str(EMBER), "pull", "smollm2:135m"], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    home.mkdir(parents=True, exist_ok=True)
    bare_script = home / "bare_app.py"
    bare_script.write_text(BARE_APP)
    ember_runs, bare_runs = [], []
    for run in range(runs):  # alternating, so both see the same machine
        bare_runs.append(start_and_quit(f"{sys.executable} {bare_script}", lambda s: "ready" in s, env, 2 * run))
        ember_runs.append(start_and_quit(f"cd {ROOT} && {EMBER} run smollm2:135m",
                                         lambda s: "smollm2:135m ·" in s and "Message" in s, env, 2 * run + 1))
    best = min  # the least disturbed start of each
    return [
        Row("app first screen (tmux 80x24)", best(r[0] for r in ember_runs) * 1000,
            best(r[0] for r in bare_runs) * 1000, "ms", "< 1000 ms", "bare Textual app"),
        Row("app quit (Ctrl+Q to exit)", best(r[1] for r in ember_runs) * 1000,
            best(r[1] for r in bare_runs) * 1000, "ms", "≈ bare", "bare Textual app"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("bench/app_start.py needs tmux for a real terminal")
    with tempfile.TemporaryDirectory() as home:
        print_table(measure(Path(home), runs=args.runs), machine())


if __name__ == "__main__":
    main()
