"""Importing an Ollama store and the Hugging Face cache: registered under the same names, nothing copied."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from ember.backend.errors import PullError
from ember.backend.pull.imports import import_hf_cache, import_ollama
from ember.backend.store.modelstore import ModelStore

TEMPLATE = "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}<|im_start|>user\n{{ .Prompt }}"


def _blob(root: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / f"sha256-{digest}").write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def ollama_store(root: Path, gguf: Path) -> Path:
    """A store laid out as Ollama lays it out: blobs/sha256-<hex>, manifests/<host>/<ns>/<model>/<tag>."""
    (root / "blobs").mkdir(parents=True)
    weights = hashlib.sha256(gguf.read_bytes()).hexdigest()
    shutil.copyfile(gguf, root / "blobs" / f"sha256-{weights}")
    config = _blob(root, json.dumps({"model_format": "gguf", "model_family": "llama"}).encode())
    layers = [
        {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{weights}",
         "size": gguf.stat().st_size},
        {"mediaType": "application/vnd.ollama.image.template", **_blob(root, TEMPLATE.encode())},
        {"mediaType": "application/vnd.ollama.image.params", **_blob(root, b'{"stop":["<|im_end|>"]}')},
    ]
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", **config},
                "layers": layers}
    for name in ("library/smollm2/135m", "someone/smol/latest"):
        path = root / "manifests" / "registry.ollama.ai" / name
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(manifest))
    broken = dict(manifest, layers=[{**layers[0], "digest": "sha256:" + "0" * 64}])
    path = root / "manifests" / "registry.ollama.ai" / "library" / "gone" / "latest"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(broken))
    return root


def test_an_ollama_store_is_imported_under_its_names_without_copying(tmp_path, smollm2_gguf):
    from ember.backend.store.modelrecord import load_record

    ollama = ollama_store(tmp_path / "ollama", smollm2_gguf)
    store = ModelStore(tmp_path / "ember")
    results = {r.name: r for r in import_ollama(store, ollama)}
    assert results["smollm2:135m"].status == "imported"
    assert results["someone/smol:latest"].status == "imported"
    assert results["gone:latest"].status == "skipped" and "missing" in results["gone:latest"].reason
    assert sorted(m.name.display() for m in store.list()) == ["smollm2:135m", "someone/smol:latest"]
    record = load_record(store, "smollm2:135m")
    theirs = ollama / "blobs" / record.model_path.name
    assert record.model_path.stat().st_ino == theirs.stat().st_ino  # the same file, hard-linked
    assert record.template == TEMPLATE and record.parameters == {"stop": ["<|im_end|>"]}
    assert record.details.quantization_level == "Q4_1"

    again = {r.name: r for r in import_ollama(store, ollama)}
    assert again["smollm2:135m"].status == "skipped" and again["smollm2:135m"].reason == "already imported"


def test_a_missing_ollama_store_says_where_it_looked(tmp_path):
    with pytest.raises(PullError, match="OLLAMA_MODELS"):
        list(import_ollama(ModelStore(tmp_path / "ember"), tmp_path / "nothing"))


def test_the_hugging_face_cache_is_imported_as_hf_co_names(tmp_path, smollm2_gguf):
    digest = hashlib.sha256(smollm2_gguf.read_bytes()).hexdigest()
    repo = tmp_path / "hub" / "models--someone--SmolLM2-GGUF"
    blob = repo / "blobs" / digest
    blob.parent.mkdir(parents=True)
    shutil.copyfile(smollm2_gguf, blob)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("c" * 40)
    snapshot = repo / "snapshots" / ("c" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "SmolLM2-135M-Instruct-Q4_1.gguf").symlink_to(blob)
    (snapshot / "README.md").write_text("hi")
    store = ModelStore(tmp_path / "ember")
    results = list(import_hf_cache(store, tmp_path / "hub"))
    assert [(r.name, r.status) for r in results] == [("hf.co/someone/SmolLM2-GGUF:Q4_1", "imported")]
    stored = store.get("hf.co/someone/SmolLM2-GGUF:Q4_1")
    assert store.blob_path(stored.manifest.layers[0].digest).stat().st_ino == blob.stat().st_ino
