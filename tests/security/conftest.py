"""The real server on a loopback port in front of the session's LocalBackend, and what attacks need."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from ember.backend.config import Config

from tests.api.conftest import running_server
from tests.security.ggufs import tiny_gguf


@pytest.fixture(scope="session")
def server(backend, config: Config) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with running_server(backend, config) as url:
        yield url


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` with its size and mtime: what a request must not change."""
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in root.rglob("*") if not p.is_dir()}


def fingerprint(path: Path) -> tuple[str, int, int, int]:
    """Content, size, mtime and link count: a read into the store by hard link raises the last."""
    stat = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_size, stat.st_mtime_ns, stat.st_nlink


@pytest.fixture(scope="session")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder beside the store holding a valid GGUF, `secret.gguf`: a path that escapes would reach it."""
    folder = tmp_path_factory.mktemp("outside")
    tiny_gguf(folder / "secret.gguf")
    (folder / "secret.txt").write_text("do not read me\n")
    return folder


@pytest.fixture()
def untouched(models_dir: Path, outside: Path) -> Iterator[None]:
    """Assert that the test leaves the store, the folder outside it and the working directory as they were."""
    ignore = {"verified.json"}  # the weights' verification cache, written when a model loads
    before = {k: v for k, v in tree(models_dir).items() if k not in ignore}
    secret = fingerprint(outside / "secret.gguf")
    beside = sorted(os.listdir(outside))
    here = Path.cwd()
    cwd = sorted(os.listdir(here))
    yield
    after = {k: v for k, v in tree(models_dir).items() if k not in ignore}
    assert after == before, f"the store changed: {set(after) ^ set(before)}"
    assert fingerprint(outside / "secret.gguf") == secret
    assert sorted(os.listdir(outside)) == beside
    assert sorted(os.listdir(here)) == cwd
