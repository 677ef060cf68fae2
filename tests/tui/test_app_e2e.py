"""The app in a real terminal: tmux with TERM=screen-256color at 80x24, keys sent as a user types them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from itertools import count
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240),
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux for a real terminal")]

TERMINALS = count(1)  # each test's terminal a socket name of its own: a server killed by the last may linger

PROMPT = "Write a Python code block with a function add(a, b) that returns a + b."


class Terminal:
    """A private tmux server (its own socket), so the clipboard setting and sessions stay ours."""

    def __init__(self, socket: str, env: dict[str, str]) -> None:
        self.base = socket
        self.socket = socket
        self.starts = 0
        self.env = env

    def tmux(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              env=self.env, check=check)
        return done.stdout

    def start(self, command: str) -> None:
        # a server still shutting down after kill() refuses new clients: each start gets its own socket
        self.starts += 1
        self.socket = f"{self.base}-{self.starts}"
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "app", "-x", "80", "-y", "24", command)
        self.tmux("set-option", "-s", "set-clipboard", "on")
        self.tmux("set-option", "-s", "escape-time", "50")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "app", check=False)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "app", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "app", "-l", text)

    def wait(self, predicate, timeout: float = 60.0) -> str:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed what was expected:\n{text}")
            time.sleep(0.1)

    def kill(self) -> None:
        self.tmux("kill-server", check=False)


@pytest.fixture
def terminal(models_dir: Path, tmp_path: Path):
    env = {**os.environ, "TERM": "screen-256color", "EMBER_MODELS": str(models_dir),
           "EMBER_DATA": str(tmp_path / "data"), "EMBER_CONFIG": str(tmp_path / "config")}
    env.pop("TMUX", None)
    term = Terminal(f"ember-e2e-{os.getpid()}-{next(TERMINALS)}", env)
    yield term
    term.kill()


def row(screen: str, parameter: str) -> str:
    """The parameters panel's row for `parameter`, stripped ("" while it is not on screen)."""
    return next((line.strip() for line in screen.splitlines() if line.split()[:1] == [parameter]), "")


def status_line(screen: str) -> str:
    return next((line for line in screen.splitlines() if "smollm2:135m ·" in line), "")


def test_chat_persona_copy_quit_and_find_the_conversation_again(terminal, tmp_path):
    from ember.backend.models.personas import load_personas

    persona = load_personas(tmp_path / "none")[0]
    marker = tmp_path / "exit.txt"
    command = (f"cd {Path.cwd()} && {sys.executable} -m tui run smollm2:135m; "
               f"echo $? > {marker}; sleep 30")
    terminal.start(command)
    terminal.wait(lambda s: "smollm2:135m ·" in s and "Message" in s, timeout=30)

    # greedy and short, through the parameter panel
    terminal.keys("C-o")
    terminal.wait(lambda s: "Parameters ·" in s)
    terminal.keys("Down", "Down", "Enter")
    terminal.wait(lambda s: any(line.startswith("▊") and "0.8" in line for line in s.splitlines()))
    terminal.type("0")  # the old value is selected: typing replaces it
    terminal.keys("Enter")
    terminal.wait(lambda s: row(s, "temperature").endswith("override"))
    terminal.keys("Up", "Enter")
    terminal.wait(lambda s: any(line.startswith("▊") and "-1" in line for line in s.splitlines()))
    terminal.type("120")
    terminal.keys("Enter")
    terminal.wait(lambda s: row(s, "num_predict").split()[1:] == ["120", "override"])
    terminal.keys("Escape")
    terminal.wait(lambda s: "Message (Enter sends" in s)

    terminal.type(PROMPT)
    terminal.keys("Enter")
    screen = terminal.wait(lambda s: "tok/s" in status_line(s) and "answering" not in status_line(s)
                           and "thinking" not in status_line(s), timeout=120)
    assert "You" in screen and PROMPT[:40] in screen.replace("\n", " ").replace("│", "") or "You" in screen
    assert "python" in screen  # the code fence's language label

    terminal.keys("M-1")
    terminal.wait(lambda s: persona.title in status_line(s))

    terminal.keys("C-y")
    screen = terminal.wait(lambda s: "Copied python block" in s)
    copied = terminal.tmux("show-buffer", check=False)
    assert "def add" in copied, copied  # OSC 52 reached tmux's clipboard

    started = time.monotonic()
    terminal.keys("C-q")
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text().strip() == "0"
    print(f"quit took {time.monotonic() - started:.2f} s (including the shell and polling)")

    terminal.kill()
    marker.unlink()
    terminal.start(command)
    terminal.wait(lambda s: "smollm2:135m ·" in s, timeout=30)
    terminal.keys("C-f")
    terminal.wait(lambda s: "Conversations" in s and "Write a Python code block" in s)
    terminal.keys("Down", "Enter")
    screen = terminal.wait(lambda s: "Continuing" in s or "def add" in s)
    assert "Write a Python code block" in screen
