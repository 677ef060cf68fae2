"""`ember pull` and `ember import` as a user runs them: real subprocesses against a local Hub server."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.backend.test_imports import ollama_store
from tests.hubserver import fixture_files, standard_hub

EMBER = [sys.executable, "-m", "tui"]
REPO = "hf.co/ember-test/SmolLM2-135M-Instruct-GGUF"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, smollm2_gguf: Path) -> dict[str, Path]:
    return fixture_files(tmp_path_factory.getbasetemp() / "hub-files", smollm2_gguf)


@pytest.fixture
def hub(files):
    server = standard_hub(files).start()
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path: Path, hub, session_home) -> dict[str, str]:
    return {**os.environ, "EMBER_MODELS": str(tmp_path / "models"), "HF_ENDPOINT": hub.url,
            "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "0"}


def ember(*args: str, env: dict[str, str], timeout: float = 90, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*EMBER, *args], capture_output=True, text=True, timeout=timeout, env=env, **kwargs)


def listed(env: dict[str, str]) -> list[str]:
    return [line.split()[0] for line in ember("list", env=env).stdout.splitlines()[1:]]


def partials(env: dict[str, str]) -> list[Path]:
    return list((Path(env["EMBER_MODELS"]) / "blobs").glob(".partial-sha256-*[0-9a-f]"))


def test_pull_prints_one_line_per_step_and_the_model_is_listed(env):
    out = ember("pull", f"{REPO}:q4_1", env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert lines[0] == "pulling manifest" and lines[-1] == "success"
    assert any(line.startswith("pulling ") and "MB" in line for line in lines)
    assert "verifying sha256 digest" in out.stderr and "\r" not in out.stderr
    assert listed(env) == [f"{REPO}:q4_1"]


def test_a_wrong_quant_is_one_line_listing_what_exists(env):
    out = ember("pull", f"{REPO}:Q8_0", env=env)
    assert out.returncode == 1
    assert out.stderr.splitlines() == ["pulling manifest", out.stderr.splitlines()[-1]]
    assert out.stderr.splitlines()[-1].startswith("Error: ") and "Q4_0, Q4_1" in out.stderr


@pytest.mark.timeout(180)
def test_kill_9_mid_pull_leaves_no_model_and_pulling_again_resumes(env, hub, files):
    hub.faults.rate = 20e6  # bytes/s: the 98 MB transfer takes about five seconds
    proc = subprocess.Popen([*EMBER, "pull", f"{REPO}:Q4_1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.stat().st_size > 20e6 for p in partials(env)):
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert [p.stat().st_size > 20e6 for p in partials(env)] == [True]
    assert listed(env) == []
    hub.faults.rate = 0
    out = ember("pull", f"{REPO}:Q4_1", env=env)
    assert out.returncode == 0, out.stderr
    assert listed(env) == [f"{REPO}:Q4_1"]
    assert int(hub.ranges()[-1].removeprefix("bytes=").removesuffix("-")) > 20e6  # resumed, not restarted
    assert partials(env) == []


def test_a_full_disk_fails_cleanly_and_pulling_again_resumes(env, hub):
    def small_disk() -> None:  # writes past 30 MB fail as they do on a full disk (EFBIG, like ENOSPC)
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000_000, 30_000_000))

    out = ember("pull", f"{REPO}:Q4_1", env=env, preexec_fn=small_disk)
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1].startswith("Error: the disk holding") and "resumes" in out.stderr
    assert "Traceback" not in out.stderr and listed(env) == []
    out = ember("pull", f"{REPO}:Q4_1", env=env)
    assert out.returncode == 0, out.stderr
    assert hub.ranges() and listed(env) == [f"{REPO}:Q4_1"]


def test_offline_fails_fast_with_one_line_listing_the_local_models(env, smollm2_gguf):
    assert ember("pull", str(smollm2_gguf), env=env).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    start = time.monotonic()
    out = ember("pull", f"{REPO}:Q4_1", env={**env, "HF_ENDPOINT": f"http://127.0.0.1:{closed}"})
    assert time.monotonic() - start < 15
    assert out.returncode == 1 and out.stderr.splitlines()[-1].startswith("Error: cannot reach Hugging Face")
    assert out.stderr.count("Error") == 1 and "offline" in out.stderr and "smollm2-135m-instruct:q4_1" in out.stderr
    run = ember("run", f"{REPO}:Q4_1", "hi", env={**env, "HF_ENDPOINT": f"http://127.0.0.1:{closed}"})
    assert run.returncode == 1 and "offline" in run.stderr


def test_import_ollama_shows_what_was_found_imported_and_skipped(env, tmp_path, smollm2_gguf):
    ollama = ollama_store(tmp_path / "ollama", smollm2_gguf)
    out = ember("import", "ollama", env={**env, "OLLAMA_MODELS": str(ollama)})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "imported smollm2:135m" in lines and any(line.split()[:2] == ["skipped", "gone:latest"] for line in lines)
    assert out.stdout.splitlines()[-1] == "3 found, 2 imported, 1 skipped"
    assert sorted(listed(env)) == ["smollm2:135m", "someone/smol:latest"]
    missing = ember("import", "ollama", "--path", str(tmp_path / "none"), env=env)
    assert missing.returncode == 1 and "OLLAMA_MODELS" in missing.stderr
