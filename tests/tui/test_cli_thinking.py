"""`ember run --think`, `--think=false`, `--hidethinking` and `/set think` as a user runs them."""

from __future__ import annotations

import subprocess
import sys

import pytest

THINKER = "cli/thinks"
MODELFILE = '''FROM smollm2:135m
TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ if .Think }}<think>
{{ end }}"""
PARAMETER temperature 0
PARAMETER num_predict 8
'''


def ember(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, timeout=110,
                          input=stdin)


@pytest.fixture(scope="module")
def thinker(models_dir, tmp_path_factory) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("thinker") / "Modelfile"
    path.write_text(MODELFILE)
    made = ember("create", THINKER, "-f", str(path))
    assert made.returncode == 0, made.stderr
    return THINKER


def test_think_prints_the_thinking_apart_then_the_answer(thinker: str) -> None:
    out = ember("run", thinker, "--think", "Why is the sky blue?")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Thinking...\n") and "\n...done thinking.\n" in out.stdout
    assert "<think>" not in out.stdout


def test_hidethinking_and_think_false_print_no_thinking(thinker: str) -> None:
    hidden = ember("run", thinker, "--think", "--hidethinking", "Why is the sky blue?")
    assert hidden.returncode == 0 and "Thinking..." not in hidden.stdout and "<think>" not in hidden.stdout
    off = ember("run", thinker, "--think=false", "Why is the sky blue?")
    assert off.returncode == 0 and off.stdout.strip() and "Thinking..." not in off.stdout


def test_a_bad_think_value_is_one_line(thinker: str) -> None:
    out = ember("run", thinker, "--think=maybe", "hi")
    assert out.returncode != 0 and "--think takes true, false, low, medium or high" in out.stderr
    assert "Traceback" not in out.stderr


def test_set_think_and_nothink_in_the_plain_chat(thinker: str) -> None:
    out = ember("run", thinker, "--plain", stdin="/set nothink\nhi\n/set think\nhi\n/bye\n")
    assert out.returncode == 0, out.stderr
    assert "Set 'nothink' mode." in out.stdout and "Set 'think' mode." in out.stdout
    after_think = out.stdout.split("Set 'think' mode.", 1)[1]
    assert "Thinking..." not in out.stdout.split("Set 'think' mode.", 1)[0] and "Thinking..." in after_think
