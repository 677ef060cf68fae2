"""The `ember` command through real subprocesses, as a user runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EMBER = [sys.executable, "-m", "tui"]
GREEDY = ["--keepalive", "0"]


def ember(*args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 90):
    return subprocess.run([*EMBER, *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def store(models_dir: Path) -> Path:
    return models_dir


def test_version_and_help():
    out = ember("--version")
    assert out.returncode == 0 and out.stdout.startswith("ember version is ")
    assert "run" in ember("help").stdout


def test_run_with_a_prompt_streams_an_answer_and_exits(short_model):
    out = ember("run", short_model, "What is 2+2? Answer with one word.", "--verbose")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
    for label in ("total duration:", "load duration:", "prompt eval count:", "prompt eval rate:",
                  "eval count:", "eval rate:"):
        assert label in out.stderr
    assert "Traceback" not in out.stderr


def test_run_reads_the_prompt_from_piped_stdin(short_model):
    out = ember("run", short_model, stdin="Say hello.\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


def test_list_show_cp_rm(store):
    listing = ember("list")
    assert listing.returncode == 0
    header, *rows = listing.stdout.splitlines()
    assert header.split() == ["NAME", "ID", "SIZE", "MODIFIED"]
    assert any(row.startswith("smollm2:135m") and "MB" in row for row in rows)

    show = ember("show", "smollm2:135m")
    assert show.returncode == 0
    for expected in ("architecture", "llama", "134.52M", "8192", "576", "Q4_1", "apache-2.0"):
        assert expected in show.stdout

    assert ember("cp", "smollm2:135m", "mine/smol:copy").returncode == 0
    assert "mine/smol:copy" in ember("list").stdout
    removed = ember("rm", "mine/smol:copy")
    assert removed.returncode == 0 and "deleted 'mine/smol:copy'" in removed.stdout
    assert "mine/smol:copy" not in ember("list").stdout
    assert "smollm2:135m" in ember("list").stdout


def test_unknown_model_is_one_clear_line_and_status_1(store):
    out = ember("show", "nosuch")
    assert out.returncode == 1
    assert out.stderr.strip() == 'Error: model "nosuch:latest" not found — see "ember list", or "ember pull nosuch:latest"'
    out = ember("run", "nosuch", "hi")  # pulled from Ollama's registry first, as ollama run does
    assert out.returncode == 1 and "Traceback" not in out.stderr
    error = out.stderr.strip().splitlines()[-1]  # offline here, or the registry's "not found"
    assert error.startswith("Error: ") and "nosuch" in error and "registry.ollama.ai" in error


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "", "my model"])
def test_names_that_escape_or_are_malformed_are_refused_without_traceback(store, name):
    for args in (["show", name], ["rm", name], ["cp", "smollm2:135m", name], ["run", name, "hi"]):
        out = ember(*args)
        assert out.returncode == 1, args
        assert out.stderr.startswith("Error: ") and "Traceback" not in out.stderr
    assert not Path("/etc/passwd.partial").exists()


def test_pull_registers_a_packaged_model_without_network(tmp_path):
    env = {"EMBER_MODELS": str(tmp_path / "models")}
    out = ember("pull", "smollm2:135m", env=env)
    assert out.returncode == 0, out.stderr
    assert "success" in out.stderr
    assert "smollm2:135m" in ember("list", env=env).stdout


def test_run_pulls_the_embedded_model_on_first_use(tmp_path):
    import signal

    env = {**os.environ, "EMBER_MODELS": str(tmp_path / "models")}
    running = subprocess.Popen([*EMBER, "run", "smollm2:135m", "Hi", *GREEDY], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    try:
        assert running.stdout is not None
        first = running.stdout.read1(256)  # the answer's first words: pulled, loaded and answering
        running.send_signal(signal.SIGINT)  # the rest of a sampled answer may be long: stop it as Ctrl+C does
        _, err = running.communicate(timeout=60)
    finally:
        running.kill()
    assert first.strip(), err.decode()
    assert running.returncode in (0, 130) and b"Traceback" not in err


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux for a real terminal")
def test_ctrl_c_during_an_answer_stops_it_cleanly(store, tmp_path):
    import time

    session = f"ember-ctrlc-{os.getpid()}"
    log = tmp_path / "out.txt"
    cmd = (f"{sys.executable} -m ember.tui run smollm2:135m 'Write a very long essay about oceans.' "
           f"> {log} 2>&1; echo EXIT=$? >> {log}")
    env = [f"-e{key}={value}" for key, value in os.environ.items() if key.startswith("EMBER_")]
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "30", *env,
                    f"cd {os.getcwd()} && {cmd}"], check=True, env=os.environ)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(log.read_text() if log.exists() else "") < 40:
            time.sleep(0.2)
        subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=True)
        deadline = time.time() + 20
        while time.time() < deadline and "EXIT=" not in log.read_text():
            time.sleep(0.2)
        text = log.read_text()
        assert "EXIT=130" in text
        assert "Traceback" not in text
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_flags_may_come_before_the_prompt(short_model):
    out = ember("run", short_model, "--verbose", "Say hi", "--keepalive", "0")
    assert out.returncode == 0, out.stderr
    assert "eval rate:" in out.stderr and out.stdout.strip()


def test_a_single_answer_runs_on_one_sequence_and_a_chat_on_the_configured_number(store, monkeypatch):
    import asyncio

    from ember.tui.cli.main import build_parser, open_backend

    monkeypatch.setenv("EMBER_MODELS", str(store))
    monkeypatch.delenv("EMBER_HOST", raising=False)
    once = open_backend(build_parser().parse_args(["run", "smollm2:135m", "Hello"]))
    listing = open_backend(build_parser().parse_args(["list"]))
    try:
        assert once.config.num_parallel == 1  # the process ends after this one answer
        assert listing.config.num_parallel == 4
    finally:
        asyncio.run(once.close())
        asyncio.run(listing.close())


@pytest.mark.parametrize("content", [b'theme = \n', b'theme = "ember-dark"\n\xff\xfe'], ids=["not-toml", "not-utf8"])
def test_a_corrupt_config_is_one_line_for_bare_ember_as_for_list(tmp_path, content):
    (tmp_path / "config.toml").write_bytes(content)
    env = {"EMBER_CONFIG": str(tmp_path)}
    for args in ((), ("list",)):
        out = ember(*args, env=env, timeout=30)
        assert out.returncode == 1
        assert "Traceback" not in out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "config.toml: not valid TOML" in lines[0]
