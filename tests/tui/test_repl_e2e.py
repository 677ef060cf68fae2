"""The plain REPL in a real terminal (tmux), as a user coming from `ollama run` types into it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"), pytest.mark.timeout(240)]


class Terminal:
    def __init__(self, name: str, command: str) -> None:
        self.name = name
        # A tmux server that is already running gives new sessions its own environment, not ours.
        env = [f"-e{key}={value}" for key, value in os.environ.items() if key.startswith("EMBER_")]
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", *env, command],
                       check=True, env={**os.environ, "TERM": "screen-256color"})

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-S", "-200", "-t", self.name],
                              capture_output=True, text=True).stdout

    def type(self, text: str, enter: bool = True) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", text], check=True)
        if enter:
            subprocess.run(["tmux", "send-keys", "-t", self.name, "Enter"], check=True)

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, text: str, timeout: float = 60, count: int = 1) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            screen = self.screen()
            if screen.count(text) >= count:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} did not appear; the screen shows:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def test_plain_repl_set_save_leave_and_show(models_dir: Path, tmp_path: Path):
    done = tmp_path / "exit"
    command = f"cd {os.getcwd()} && {sys.executable} -m ember.tui run smollm2:135m --plain; echo EXITED > {done}; sleep 30"
    term = Terminal(f"ember-repl-{os.getpid()}", command)
    try:
        term.wait_for(">>>")
        term.type("/set parameter temprature 0")
        term.wait_for('did you mean "temperature"')
        term.type("/set parameter temperature 0")
        term.wait_for("Set parameter 'temperature' to '0'")
        term.type("/set parameter num_predict 12")
        term.type('/set system "You are a terse assistant."')
        term.wait_for("Set system message.")
        term.type('"""')
        term.type("Say hello")
        term.type('to me."""')
        term.wait_for(">>>", count=6, timeout=90)
        term.type("/save mine/terse")
        term.wait_for("Created new model 'mine/terse'", timeout=60)
        term.type("/bye")
        deadline = time.time() + 20
        while not done.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert done.exists()
    finally:
        term.close()
    shown = subprocess.run([sys.executable, "-m", "tui", "show", "mine/terse", "--modelfile"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "You are a terse assistant." in shown.stdout
    assert "PARAMETER temperature 0" in shown.stdout
    assert "Say hello\nto me." in shown.stdout
    assert "MESSAGE assistant" in shown.stdout


def test_history_of_typed_lines_survives_a_restart(models_dir: Path):
    command = f"cd {os.getcwd()} && {sys.executable} -m ember.tui run smollm2:135m --plain"
    first = Terminal(f"ember-hist1-{os.getpid()}", command)
    try:
        first.wait_for(">>>")
        first.type("/set verbose")
        first.wait_for("Set 'verbose' mode.")
        first.type("/bye")
    finally:
        time.sleep(0.5)
        first.close()
    second = Terminal(f"ember-hist2-{os.getpid()}", command)
    try:
        second.wait_for(">>>")
        second.keys("Up")
        second.wait_for(">>> /bye")
        second.keys("Up")
        second.wait_for(">>> /set verbose")
    finally:
        second.close()
