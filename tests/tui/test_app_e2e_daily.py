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
