"""`ember doctor` and the PROCESSOR column of `ember ps`, as a user sees them."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ember.backend.engine.buildinfo import installed_flavour, system_info

EMBER = [sys.executable, "-m", "tui"]


def ember(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EMBER, *args], input=stdin, capture_output=True, text=True, timeout=90,
                          env={**os.environ, **env})


@pytest.mark.timeout(120)
def test_doctor_reports_the_build_the_cpu_and_each_models_offload(tmp_path: Path):
    env = {"EMBER_MODELS": str(tmp_path / "models"), "EMBER_DATA": str(tmp_path / "data"),
           "EMBER_CONFIG": str(tmp_path / "config"), "EMBER_NUM_PARALLEL": "1"}
    assert ember("pull", "smollm2:135m", env=env).returncode == 0
    (tmp_path / "Modelfile").write_text("FROM smollm2:135m\nPARAMETER num_ctx 16384\nPARAMETER num_gpu 0\n")
    assert ember("create", "long", "-f", str(tmp_path / "Modelfile"), env=env).returncode == 0

    out = ember("doctor", env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    flavour = installed_flavour()
    assert lines[0].split()[:2] == ["Build", flavour]
    features = [name for name, value in system_info()["CPU"].items() if value == "1"]
    assert any(line.startswith("CPU features") and all(f in line for f in features) for line in lines)
    assert any(line.startswith("GPU") for line in lines)
    rows = {line.split()[0]: line for line in lines if line.startswith(("smollm2:135m", "long:latest"))}
    assert "4096" in rows["smollm2:135m"].split() and "16384" in rows["long:latest"].split()
    assert "0/31" in rows["long:latest"] and "100% CPU" in rows["long:latest"]
    assert "num_gpu is 0" in rows["long:latest"]
    if flavour == "cpu":
        assert "GPU          none (this build runs on the CPU only)" in lines
        assert "0/31" in rows["smollm2:135m"] and "100% CPU" in rows["smollm2:135m"]
    else:
        assert "31/31" in rows["smollm2:135m"] and "100% GPU" in rows["smollm2:135m"]


def test_doctor_with_a_remote_host_says_it_describes_this_machine(tmp_path: Path):
    out = ember("--host", "http://127.0.0.1:9", "doctor", env={"EMBER_MODELS": str(tmp_path)})
    assert out.returncode == 1
    assert out.stderr.strip() == ("Error: ember doctor describes this machine; run it on the machine that "
                                  "serves the models")


async def test_ps_shows_where_a_loaded_model_runs(backend, capsys):
    from ember.backend.types import GenerateRequest
    from ember.tui.cli.verbs import cmd_ps

    async for _ in backend.generate(GenerateRequest(model="smollm2:135m", prompt="Hi",
                                                    options={"num_predict": 1, "temperature": 0})):
        pass
    await cmd_ps(backend, argparse.Namespace())
    [row] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("smollm2:135m")]
    assert ("100% CPU" if installed_flavour() == "cpu" else "100% GPU") in row
