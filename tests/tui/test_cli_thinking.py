"""`ember run --think`, `--think=false`, `--hidethinking` and `/set think` as a user runs them."""

from __future__ import annotations

import subprocess
import sys

import pytest
from ember.backend.history import History
from ember.tui.chat.session import ChatSession, ChatState
from ember.tui.chat.slash_run import run_command

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


async def test_set_think_and_nothink_shape_the_request_and_history_keeps_the_thinking(
        backend, thinker: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    history = History(tmp_path / "history.db")
    session = ChatSession(backend, ChatState(model=thinker), history)
    assert (await run_command(session, "/set nothink")).text == "Set 'nothink' mode."
    assert session.request().think is False
    assert (await run_command(session, "/set think high")).text == "Set 'think' mode (high)."
    assert session.request().think == "high"
    assert "Usage: /set think" in (await run_command(session, "/set think hard")).text
    await run_command(session, "/set think")
    chunks = [c async for c in session.send("Why is the sky blue?")]
    thinking = "".join(c.thinking for c in chunks)
    assert thinking and session.turns[-1].thinking == thinking
    stored = history.messages(session.conversation_id)
    assert stored[-1].role == "assistant" and stored[-1].thinking == thinking
    session.open_conversation(session.conversation_id)
    assert session.turns[-1].thinking == thinking
    history.close()
