"""A damaged weights blob is found by its sha256 before llama.cpp loads it, and named; a good one is
hashed once, not on every load."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from ember.backend.config import Config
from ember.backend.errors import CorruptBlob
from ember.backend.local.integrity import BlobVerifier
from ember.backend.local.local_backend import LocalBackend
from ember.backend.pull.register import register_gguf
from ember.backend.store.modelrecord import load_record
from ember.backend.store.modelstore import ModelStore
from ember.backend.store.names import parse_name
from ember.backend.types import ChatRequest, Message

from tests.faults.conftest import MODEL, ember


@pytest.fixture
def own_copy(tmp_path: Path, smollm2_gguf: Path) -> Path:
    """A store whose weights blob is a private copy (never the packaged file), so it can be damaged."""
    source = tmp_path / "SmolLM2.gguf"
    shutil.copyfile(smollm2_gguf, source)
    register_gguf(ModelStore(tmp_path / "models"), parse_name(MODEL), source)
    return ModelStore(tmp_path / "models").blob_path(load_record(ModelStore(tmp_path / "models"), MODEL)
                                                      .manifest.layers[0].digest)


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x01]))


async def _answer(backend: LocalBackend) -> str:
    request = ChatRequest(MODEL, [Message("user", "hi")], options={"num_predict": 2, "temperature": 0})
    return "".join([chunk.text async for chunk in backend.chat(request)])


def test_a_flipped_bit_is_named_before_the_model_loads(own_copy: Path, tmp_path: Path) -> None:
    _flip(own_copy, own_copy.stat().st_size // 2)
    backend = LocalBackend(Config(models=tmp_path / "models"))
    with pytest.raises(CorruptBlob) as error:
        asyncio.run(_answer(backend))
    message = str(error.value)
    assert MODEL in message and "corrupt" in message and own_copy.name in message
    assert f"ember rm {MODEL}" in message
    assert backend.scheduler.residents() == []  # llama.cpp never saw it


def test_a_truncated_blob_is_named_without_hashing_it(own_copy: Path, tmp_path: Path) -> None:
    os.truncate(own_copy, own_copy.stat().st_size - 1000)
    out = ember(tmp_path, "run", MODEL, "hi")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    error = out.stderr.strip().splitlines()[-1]
    assert error.startswith(f"Error: the weights of {MODEL} are damaged") and "manifest says" in error


def test_a_good_blob_is_hashed_once_then_again_only_when_it_changes(own_copy: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import ember.backend.local.integrity as integrity

    hashed: list[Path] = []
    real = integrity.hash_file
    monkeypatch.setattr(integrity, "hash_file", lambda path: hashed.append(path) or real(path))
    store = ModelStore(tmp_path / "models")
    record = load_record(store, MODEL)
    BlobVerifier(store).check(record)
    assert hashed == [own_copy]
    verifier = BlobVerifier(store)  # a new process: the verification is remembered on disk
    verifier.check(record)
    verifier.check(record)
    assert hashed == [own_copy]
    stat = own_copy.stat()
    os.utime(own_copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # touched: it may have changed
    verifier.check(record)
    assert hashed == [own_copy, own_copy]
    _flip(own_copy, 4096)
    with pytest.raises(CorruptBlob):
        BlobVerifier(store).check(record)
