"""The app in a real terminal (tmux, TERM=screen-256color, 80x24): what needs one — a terminal killed
mid-answer, and a missing default model."""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.tui.test_app_e2e import status_line, terminal  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240),
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux for a real terminal")]


def test_a_terminal_killed_mid_answer_keeps_the_partial_answer(terminal, tmp_path):  # noqa: F811
    from ember.backend.history import History

    terminal.start(f"cd {Path.cwd()} && {sys.executable} -m tui run smollm2:135m")
    terminal.wait(lambda s: "smollm2:135m ·" in s and "Message" in s, timeout=30)
    terminal.type("/set parameter num_predict 300")
    terminal.keys("Enter")
    terminal.wait(lambda s: "Set parameter 'num_predict'" in s)
    terminal.type("Write a long story about a lighthouse keeper.")
    terminal.keys("Enter")
    terminal.wait(lambda s: "answering" in status_line(s), timeout=120)
    time.sleep(2)  # some of the answer is on screen
    terminal.kill()  # the terminal goes, and the app with it (SIGHUP)
    time.sleep(1)
    history = History(tmp_path / "data" / "history.db")
    try:
        conversation = history.conversations()[0]
        stored = history.messages(conversation.id)
    finally:
        history.close()
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[0].content == "Write a long story about a lighthouse keeper."
    assert len(stored[1].content.split()) >= 2


def test_a_missing_default_model_opens_the_library_saying_why(terminal):  # noqa: F811
    terminal.env["EMBER_DEFAULT_MODEL"] = "nosuch"
    terminal.start(f"cd {Path.cwd()} && {sys.executable} -m tui; sleep 30")
    terminal.wait(lambda s: "Models — this machine" in s and "smollm2:135m" in s, timeout=30)
    screen = terminal.wait(lambda s: re.search(r'"nosuch(:latest)?" not found', s.replace("\n", " ")), timeout=10)
    assert "Traceback" not in screen


def test_what_is_typed_right_after_enter_is_the_next_message(terminal):  # noqa: F811
    terminal.start(f"cd {Path.cwd()} && {sys.executable} -m tui run smollm2:135m")
    terminal.wait(lambda s: "smollm2:135m ·" in s and "Message" in s, timeout=30)
    # one burst, as a fast typist or a paste without bracketed paste sends it
    terminal.tmux("send-keys", "-t", "app", "-l", "/set verbose")
    terminal.keys("Enter")
    terminal.tmux("send-keys", "-t", "app", "-l", "/set quiet")
    terminal.keys("Enter")
    screen = terminal.wait(lambda s: "Set 'quiet' mode." in s, timeout=20)
    assert "Set 'verbose' mode." in screen and "/set verbose/set quiet" not in screen


def test_ctrl_t_opens_and_folds_the_thinking_through_tmux(terminal, tmp_path):  # noqa: F811
    import subprocess

    from tests.tui.test_app_thinking import MODELFILE

    def ember(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tui", *args], env=terminal.env, capture_output=True,
                              text=True, timeout=120)

    (tmp_path / "Modelfile").write_text(MODELFILE)
    made = ember("create", "e2e/thinks", "-f", str(tmp_path / "Modelfile"))
    assert made.returncode == 0, made.stderr
    try:
        terminal.start(f"cd {Path.cwd()} && {sys.executable} -m tui run e2e/thinks")
        terminal.wait(lambda s: "e2e/thinks ·" in s and "Message" in s, timeout=30)
        terminal.type("/set parameter num_predict 12")
        terminal.keys("Enter")
        terminal.wait(lambda s: "Set parameter 'num_predict'" in s)
        terminal.type("Why is the sky blue?")
        terminal.keys("Enter")
        folded = terminal.wait(lambda s: "▸ Thought for" in s and "tok/s" in s, timeout=180)
        assert "Ctrl+T opens it" in folded
        terminal.keys("C-t")
        opened = terminal.wait(lambda s: "▾ Thought for" in s, timeout=10)
        assert len(opened.strip().splitlines()) >= len(folded.strip().splitlines())
        terminal.keys("C-t")
        terminal.wait(lambda s: "▸ Thought for" in s, timeout=10)
    finally:
        ember("rm", "e2e/thinks")
