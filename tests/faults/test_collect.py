"""Collecting unreferenced blobs spares what an upload or a create in flight (in another process) holds,
and the next start collects what a killed create left."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ember.backend.local.uploads import receive_blob
from ember.backend.store import collect
from ember.backend.store.modelstore import MEDIA_MODEL, ModelStore

from tests.faults.conftest import MODEL, ember, env_for, listed

pytestmark = pytest.mark.timeout(180)

# A real create in its own process, paused after its blobs are written and before its manifest.
PAUSED_CREATE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from ember.backend.models.create import create_model
    from ember.backend.store.modelstore import ModelStore
    from ember.backend.store.names import parse_name
    store = ModelStore(Path(sys.argv[1]))
    steps = create_model(store, parse_name("sec/paused"), sys.argv[2], None)
    for step in steps:
        if step.status == "writing manifest":
            print("paused", flush=True)
            sys.stdin.readline()
    print("done", flush=True)
""")


def _blob_names(store: ModelStore) -> set[str]:
    return {p.name for p in store.blobs.iterdir() if p.name.startswith("sha256-")}


def _referenced(store: ModelStore) -> set[str]:
    names = set()
    for name in store.iter_names():
        manifest = store.read_manifest(name)
        names.update(layer.digest.replace(":", "-") for layer in (manifest.config, *manifest.layers))
    return names


def test_deleting_a_model_spares_a_blob_uploaded_for_a_create_that_has_not_come_yet(home: Path) -> None:
    store = ModelStore(home / "models")
    data = b"GGUF" + os.urandom(4096)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()

    async def upload() -> None:
        async def body():  # type: ignore[no-untyped-def]
            yield data

        await receive_blob(store, digest, body())

    asyncio.run(upload())
    assert ember(home, "cp", MODEL, "sec/other").returncode == 0
    assert ember(home, "rm", "sec/other").returncode == 0  # a deletion collects unreferenced blobs
    assert store.has_blob(digest), "the upload was collected before its create"
    assert listed(home) == [MODEL]  # a start-up check spares it too
    assert store.has_blob(digest)


def test_an_upload_past_its_grace_period_is_collected(home: Path) -> None:
    store = ModelStore(home / "models")
    layer = store.write_bytes(b"an old upload", MEDIA_MODEL)
    collect.note_upload(store, layer.digest.split(":")[1])
    record = store.root / collect.UPLOADS / layer.digest.replace(":", "-")
    old = time.time() - collect.UPLOAD_GRACE - 60
    os.utime(record, (old, old))
    assert layer.digest.replace(":", "-") in store.prune()
    assert not store.has_blob(layer.digest) and not record.exists()


def test_a_create_in_flight_in_another_process_keeps_its_blobs_through_a_deletion(home: Path) -> None:
    store = ModelStore(home / "models")
    modelfile = f"FROM {MODEL}\nSYSTEM Written while another process deleted a model.\n"
    creator = subprocess.Popen([sys.executable, "-c", PAUSED_CREATE, str(store.root), modelfile],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env_for(home))
    try:
        assert creator.stdout is not None and creator.stdin is not None
        assert creator.stdout.readline().strip() == "paused"
        unreferenced = _blob_names(store) - _referenced(store)
        assert unreferenced, "the paused create should hold a blob no manifest names yet"
        assert ember(home, "cp", MODEL, "sec/other").returncode == 0
        assert ember(home, "rm", "sec/other").returncode == 0
        assert unreferenced <= _blob_names(store), "a deletion collected the blobs of a create in flight"
        creator.stdin.write("\n")
        creator.stdin.flush()
        assert creator.stdout.readline().strip() == "done"
    finally:
        creator.wait(30)
    assert creator.returncode == 0
    assert sorted(listed(home)) == sorted([MODEL, "sec/paused:latest"])
    assert ModelStore(home / "models").recover().damaged == {}


def test_the_start_up_check_collects_what_a_killed_create_left(home: Path) -> None:
    (home / "Modelfile").write_text(f"FROM {MODEL}\nSYSTEM A blob of its own.\nLICENSE {'x' * 5000}\n")
    killed = ember(home, "create", "sec/killed", "-f", str(home / "Modelfile"), kill_at=("manifest", 1))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    store = ModelStore(home / "models")
    leaked = _blob_names(store) - _referenced(store)
    assert leaked, "the killed create should have left blobs no manifest names"
    assert listed(home) == [MODEL]  # the next start
    assert _blob_names(store) == _referenced(store)


def test_the_start_up_check_leaves_blobs_a_live_writer_holds(home: Path) -> None:
    store = ModelStore(home / "models")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from ember.backend.store.modelstore import ModelStore, MEDIA_MODEL
        store = ModelStore({str(store.root)!r})
        with store.writing():
            store.write_bytes(b"about to be named by a manifest", MEDIA_MODEL)
            print("holding", flush=True)
            sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env_for(home))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        held = _blob_names(store) - _referenced(store)
        assert held
        assert store.recover().damaged == {}
        assert held <= _blob_names(store)
    finally:
        holder.kill()
        holder.wait()
    store.recover()  # its writer is gone now
    assert not held & _blob_names(store)


def test_staged_downloads_are_kept_for_resuming_within_bounds_and_a_prune_removes_them(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    fresh = store.temp_path("sha256:" + "a" * 64)
    stale = store.temp_path("sha256:" + "b" * 64)
    fresh.write_bytes(b"resumable")
    stale.write_bytes(b"abandoned")
    old = time.time() - collect.PARTIAL_MAX_AGE - 60
    os.utime(stale, (old, old))
    assert stale.name in store.prune()
    assert fresh.exists() and not stale.exists()
    assert fresh.name in store.prune(partials=True)
    assert not fresh.exists()


def test_staged_downloads_past_their_total_size_lose_the_oldest(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(collect, "PARTIAL_MAX_BYTES", 1000)
    store = ModelStore(tmp_path)
    older, newer = store.temp_path("sha256:" + "c" * 64), store.temp_path("sha256:" + "d" * 64)
    older.write_bytes(b"x" * 800)
    newer.write_bytes(b"y" * 800)
    past = time.time() - 120
    os.utime(older, (past, past))
    store.prune()
    assert newer.exists() and not older.exists()



def test_the_disk_space_refusal_says_the_real_numbers(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from ember.backend.errors import DiskFull
    from ember.backend.pull.download import check_space

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=10 << 20))  # cannot be made here
    store = ModelStore(tmp_path)
    with pytest.raises(DiskFull) as nothing_more:
        check_space(store, 0)  # everything is staged, but the margin is not free
    assert "0 B" not in str(nothing_more.value) and "ember keeps 67 MB free" in str(nothing_more.value)
    assert "and 10 MB is free" in str(nothing_more.value)
    with pytest.raises(DiskFull, match="needs 2 GB more and ember keeps 67 MB free beside the models, and 10 MB"):
        check_space(store, 2_000_000_000)


def test_ember_rm_partials_removes_interrupted_downloads(home: Path) -> None:
    store = ModelStore(home / "models")
    staged = store.temp_path("sha256:" + "e" * 64)
    staged.write_bytes(b"an interrupted download")
    removed = ember(home, "rm", "--partials")
    assert removed.returncode == 0, removed.stderr
    assert "removed 1 interrupted download" in removed.stdout and not staged.exists()
    assert listed(home) == [MODEL]
    nothing = ember(home, "rm")
    assert nothing.returncode == 1 and "--partials" in nothing.stderr
