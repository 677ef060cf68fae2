"""`ember serve --listen 0.0.0.0` without an API key says, at start, that anyone can reach it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.test_serve import _free_port


def _first_lines(models_dir: Path, listen: str, **extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "EMBER_API_KEY"}
    env.update(EMBER_MODELS=str(models_dir), **extra)
    process = subprocess.Popen([sys.executable, "-m", "tui", "serve", "--listen", listen], env=env, text=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    lines = [process.stderr.readline(), process.stderr.readline()]
    process.send_signal(signal.SIGINT)
    process.wait(30)
    return "".join(lines)


@pytest.mark.timeout(120)
def test_listening_on_every_interface_without_a_key_warns(models_dir: Path) -> None:
    lines = _first_lines(models_dir, f"0.0.0.0:{_free_port()}")
    assert "warning: listening on 0.0.0.0 with no API key" in lines and "EMBER_API_KEY" in lines


@pytest.mark.timeout(120)
def test_with_a_key_or_on_loopback_there_is_no_warning(models_dir: Path) -> None:
    assert "warning" not in _first_lines(models_dir, f"0.0.0.0:{_free_port()}", EMBER_API_KEY="k")
    assert "warning" not in _first_lines(models_dir, f"127.0.0.1:{_free_port()}")
