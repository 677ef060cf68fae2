import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from ember.backend.errors import CorruptBlob, EmberError, ModelNotFound
from ember.backend.store.modelstore import CONFIG_MEDIA_TYPE, MEDIA_MODEL, MEDIA_SYSTEM, Manifest, ModelStore
from ember.backend.store.names import parse_name


def make_model(store: ModelStore, name: str, payload: bytes = b"weights") -> Manifest:
    config = store.write_bytes(json.dumps({"model_format": "gguf"}).encode(), CONFIG_MEDIA_TYPE)
    model = store.write_bytes(payload, MEDIA_MODEL)
    manifest = Manifest(config, (model,))
    store.write_manifest(parse_name(name), manifest)
    return manifest


def test_blobs_are_named_by_their_sha256_in_ollamas_layout(tmp_path):
    store = ModelStore(tmp_path)
    layer = store.write_bytes(b"hello", MEDIA_SYSTEM)
    hexd = hashlib.sha256(b"hello").hexdigest()
    assert layer.digest == f"sha256:{hexd}"
    assert (tmp_path / "blobs" / f"sha256-{hexd}").read_bytes() == b"hello"


def test_manifest_lives_under_host_namespace_model_tag(tmp_path):
    store = ModelStore(tmp_path)
    make_model(store, "smollm2:135m")
    path = tmp_path / "manifests" / "registry.ollama.ai" / "library" / "smollm2" / "135m"
    data = json.loads(path.read_text())
    assert data["schemaVersion"] == 2
    assert data["layers"][0]["mediaType"] == MEDIA_MODEL
    assert [m.name.display() for m in store.list()] == ["smollm2:135m"]


def test_models_share_blobs_and_delete_collects_only_unused_ones(tmp_path):
    store = ModelStore(tmp_path)
    make_model(store, "a")
    store.copy(parse_name("a"), parse_name("b"))
    make_model(store, "c", b"other weights")
    blobs_before = set(os.listdir(tmp_path / "blobs"))
    assert len(blobs_before) == 3  # config shared, two weights
    store.delete(parse_name("a"))
    assert set(os.listdir(tmp_path / "blobs")) == blobs_before  # b still uses them
    store.delete(parse_name("c"))
    assert len(os.listdir(tmp_path / "blobs")) == 2
    store.delete(parse_name("b"))
    assert os.listdir(tmp_path / "blobs") == []


def test_lookup_is_case_insensitive_and_unknown_is_not_found(tmp_path):
    store = ModelStore(tmp_path)
    make_model(store, "hf.co/User/Repo:Q4_K_M")
    assert store.get("hf.co/user/repo:q4_k_m").name.display() == "hf.co/User/Repo:Q4_K_M"
    with pytest.raises(ModelNotFound):
        store.get("nosuch")


def test_manifest_refuses_missing_blobs(tmp_path):
    store = ModelStore(tmp_path)
    manifest = make_model(store, "a")
    (tmp_path / "blobs" / manifest.layers[0].digest.replace(":", "-")).unlink()
    with pytest.raises(EmberError):
        store.write_manifest(parse_name("b"), manifest)
    assert not store.exists(parse_name("b"))


def test_corrupt_blob_is_detected_by_its_digest(tmp_path):
    store = ModelStore(tmp_path)
    manifest = make_model(store, "a")
    digest = manifest.layers[0].digest
    store.verify_blob(digest)
    store.blob_path(digest).write_bytes(b"tampered")
    with pytest.raises(CorruptBlob, match="corrupt"):
        store.verify_blob(digest)


def test_a_kill_between_blob_and_manifest_leaves_no_listed_model(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal
        from ember.backend.store.modelstore import ModelStore, MEDIA_MODEL
        store = ModelStore({str(tmp_path)!r})
        store.write_bytes(b"weights" * 1000, MEDIA_MODEL)
        tmp = store.blobs / ".partial-{{}}-1".format(os.getpid())
        tmp.write_bytes(b"half a blob")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    store = ModelStore(tmp_path)
    assert store.list() == []
    removed = store.prune()
    assert len(removed) == 2  # the orphan blob and the half-written temp file
    assert os.listdir(tmp_path / "blobs") == []


def test_resumable_download_stages_survive_prune(tmp_path):
    store = ModelStore(tmp_path)
    staged = store.temp_path("sha256:" + "b" * 64)
    staged.write_bytes(b"partial download")
    store.prune()
    assert staged.exists()


def test_commit_temp_rejects_bytes_that_do_not_match(tmp_path):
    store = ModelStore(tmp_path)
    digest = "sha256:" + hashlib.sha256(b"good").hexdigest()
    staged = store.temp_path(digest)
    staged.write_bytes(b"evil")
    with pytest.raises(CorruptBlob):
        store.commit_temp(staged, digest)
    assert not store.has_blob(digest) and not staged.exists()
    staged.write_bytes(b"good")
    store.commit_temp(staged, digest)
    assert store.read_blob(digest) == b"good"
