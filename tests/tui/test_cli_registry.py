"""`ember pull --insecure` from a registry and `ember create --quantize`, as a user runs them (real subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.registryserver import SMOLLM2_SYSTEM, SMOLLM2_TEMPLATE, standard_registry

EMBER = [sys.executable, "-m", "ember.tui"]


@pytest.fixture(scope="module")
def registry(smollm2_gguf: Path):
    server = standard_registry(smollm2_gguf).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, session_home: Path) -> dict[str, str]:
    return {**os.environ, "EMBER_MODELS": str(tmp_path_factory.mktemp("cli-registry") / "models")}


def ember(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*EMBER, *args], capture_output=True, text=True, timeout=180, env=env, cwd=cwd)


def test_pull_insecure_prints_each_layer_and_show_gives_what_ollama_would(registry, env):
    name = f"{registry.host}/library/smollm2:135m"
    refused = ember("pull", name, env=env)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert "--insecure" in refused.stderr and "Traceback" not in refused.stderr
    out = ember("pull", "--insecure", name, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert lines[0] == "pulling manifest" and lines[-2:] == ["writing manifest", "success"]
    for _, blob in registry.models["library/smollm2:135m"].layers:
        assert any(line.startswith(f"pulling {blob.sha256[:12]}") for line in lines)
    assert ember("show", name, "--template", env=env).stdout.strip() == SMOLLM2_TEMPLATE.strip()
    assert ember("show", name, "--system", env=env).stdout.strip() == SMOLLM2_SYSTEM
    parameters = ember("show", name, "--parameters", env=env).stdout
    assert "temperature" in parameters and "<|im_end|>" in parameters
    modelfile = ember("show", name, "--modelfile", env=env).stdout
    assert "PARAMETER temperature 0.2" in modelfile and "MESSAGE assistant Hello!" in modelfile
    missing = ember("pull", "--insecure", f"{registry.host}/library/smollm2:7b", env=env)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1] == \
        f'Error: cannot pull {registry.host}/library/smollm2:7b: {registry.host} has no tag "7b" of library/smollm2'


def test_create_quantize_writes_the_model_in_the_new_type(registry, env, tmp_path):
    (tmp_path / "Modelfile").write_text('FROM smollm2:135m\nSYSTEM "Be brief."\n')
    out = ember("create", "smol-q8", "--quantize", "q8_0", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "quantizing Q4_1 model to Q8_0" in out.stderr and out.stderr.splitlines()[-1] == "success"
    shown = ember("show", "smol-q8", env=env).stdout
    assert "Q8_0" in shown
    bad = ember("create", "smol-bad", "-q", "q9", env=env, cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.startswith('Error: cannot quantize to "q9"')
    assert "smol-bad" not in ember("list", env=env).stdout
