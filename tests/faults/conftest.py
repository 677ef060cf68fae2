"""Fault tests: a private store per test for the CLI in subprocesses, and the real server for the rest."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ember.backend.config import Config
from ember.backend.pull.register import register_gguf
from ember.backend.store.modelstore import TEMP_PREFIX, ModelStore
from ember.backend.store.names import parse_name

from tests.api.conftest import running_server

MODEL = "smollm2:135m"
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="session")
def server(backend, config: Config) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with running_server(backend, config) as url:
        yield url


@pytest.fixture
def home(tmp_path: Path, smollm2_gguf: Path) -> Path:
    """A store of its own holding smollm2:135m (hard-linked, so it costs nothing)."""
    register_gguf(ModelStore(tmp_path / "models"), parse_name(MODEL), smollm2_gguf)
    return tmp_path


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMBER_", "HF_"))}
    return {**env, "EMBER_MODELS": str(home / "models"), "EMBER_DATA": str(home / "data"),
            "EMBER_CONFIG": str(home / "config"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def ember(home: Path, *args: str, kill_at: tuple[str, int] | None = None, timeout: float = 120,
          **popen) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    """The ember command in a subprocess on `home`'s store; `kill_at` SIGKILLs it mid-write."""
    prefix = ["-m", "tests.faults.killpoint", kill_at[0], str(kill_at[1]), "--"] if kill_at else ["-m", "tui"]
    return subprocess.run([sys.executable, *prefix, *args], capture_output=True, text=True, timeout=timeout,
                          env=env_for(home), cwd=popen.pop("cwd", home), **popen)


def debris(home: Path) -> list[Path]:
    """Temp files a writer left behind (a staged download, `.partial-sha256-…`, is not debris)."""
    store = home / "models"
    return [p for p in store.rglob(f"{TEMP_PREFIX}*") if not p.name.startswith(f"{TEMP_PREFIX}sha256-")]


def listed(home: Path) -> list[str]:
    out = ember(home, "list")
    assert out.returncode == 0, out.stderr
    return [line.split()[0] for line in out.stdout.splitlines()[1:]]
