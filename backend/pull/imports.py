"""Bring in the models a user already has, without copying them: an Ollama store, the Hugging Face cache.

Blobs are hard-linked into ember's store (copied only across file systems), so an imported model
costs no disk space. Each model found is reported as imported, or skipped with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ember.backend.errors import EmberError, PullError
from ember.backend.pull.quant import parse_gguf_name, split_siblings
from ember.backend.pull.register import config_layer, read_parts_meta, register_steps
from ember.backend.store.ggufmeta import is_gguf
from ember.backend.store.modelstore import CONFIG_MEDIA_TYPE, MEDIA_MODEL, Layer, Manifest, ModelStore
from ember.backend.store.names import ModelName, parse_digest
from ember.backend.types import ImportResult

SOURCES = ("ollama", "hf-cache")


def ollama_root() -> Path:
    """Where Ollama keeps its models: OLLAMA_MODELS, else ~/.ollama/models."""
    return Path(os.environ.get("OLLAMA_MODELS") or Path.home() / ".ollama" / "models").expanduser()


def import_models(store: ModelStore, source: str, path: str | None = None) -> Iterator[ImportResult]:
    if source == "ollama":
        return import_ollama(store, Path(path).expanduser() if path else ollama_root())
    if source == "hf-cache":
        from ember.backend.pull.hf import cache_dir

        return import_hf_cache(store, Path(path).expanduser() if path else cache_dir())
    raise PullError(f'cannot import from "{source}": ember imports from {" or ".join(SOURCES)}')


# Ollama ------------------------------------------------------------------------------------------


def import_ollama(store: ModelStore, root: Path) -> Iterator[ImportResult]:
    manifests = root / "manifests"
    if not manifests.is_dir():
        raise PullError(f"no Ollama models at {root} — set OLLAMA_MODELS to the folder that holds "
                        "Ollama's manifests/ and blobs/")
    for path in sorted(manifests.glob("*/*/*/*")):
        if not path.is_file():
            continue
        try:
            name = ModelName(*path.relative_to(manifests).parts)
            yield _import_ollama_model(store, root, name, path)
        except (EmberError, ValueError, KeyError, TypeError, OSError) as exc:
            yield ImportResult("/".join(path.relative_to(manifests).parts), "skipped", str(exc))


def _import_ollama_model(store: ModelStore, root: Path, name: ModelName, path: Path) -> ImportResult:
    from ember.backend.store.names import parse_name

    name = parse_name(f"{name.host}/{name.namespace}/{name.model}:{name.tag}")  # refuses odd names
    shown = name.display()
    theirs = Manifest.from_bytes(path.read_bytes())
    weights = [layer for layer in theirs.layers if layer.media_type == MEDIA_MODEL]
    if not weights:
        return ImportResult(shown, "skipped", "it has no model weights (an embedding-only or cloud model?)")
    blobs = root / "blobs"
    for layer in theirs.layers:
        blob = blobs / f"sha256-{parse_digest(layer.digest)}"
        if not blob.is_file():
            return ImportResult(shown, "skipped", f"its blob {layer.digest[:19]}… is missing from {blobs}")
    if not all(is_gguf(blobs / f"sha256-{parse_digest(w.digest)}") for w in weights):
        return ImportResult(shown, "skipped", "its weights are not a GGUF file")
    kept = [layer for layer in theirs.layers if layer.media_type != CONFIG_MEDIA_TYPE]
    if store.exists(name):
        mine = store.read_manifest(name)
        if [layer.digest for layer in mine.layers] == [layer.digest for layer in kept]:
            return ImportResult(shown, "skipped", "already imported")
        return ImportResult(shown, "skipped", "ember has a different model by this name; "
                                              f'"ember rm {shown}" first to replace it')
    linked = [_link(store, blobs / f"sha256-{parse_digest(layer.digest)}", layer) for layer in kept]
    meta = read_parts_meta([store.blob_path(w.digest) for w in weights])
    store.write_manifest(name, Manifest(config_layer(store, meta), tuple(linked)))
    return ImportResult(shown, "imported", "")


def _link(store: ModelStore, blob: Path, layer: Layer) -> Layer:
    """Ollama's blobs are named by their sha256 already: link them in as they are."""
    if blob.stat().st_size != layer.size:
        raise PullError(f"blob {layer.digest[:19]}… has {blob.stat().st_size} bytes, its manifest says "
                        f"{layer.size}; repair it in Ollama first")
    return store.add_file(blob, layer.media_type, digest=layer.digest)


# the Hugging Face cache ----------------------------------------------------------------------------


def import_hf_cache(store: ModelStore, root: Path) -> Iterator[ImportResult]:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        cache = scan_cache_dir(root)
    except CacheNotFound:
        raise PullError(f"no Hugging Face cache at {root} — set HF_HUB_CACHE or HF_HOME to where it is")
    for repo in sorted(cache.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model" or not repo.revisions:
            continue
        revision = max(repo.revisions, key=lambda r: r.last_modified)
        files = {f.file_path.relative_to(revision.snapshot_path).as_posix(): f for f in revision.files}
        for rel in sorted(files):
            parsed = parse_gguf_name(rel)
            if not rel.lower().endswith(".gguf") or parsed.is_projector or parsed.part != 1:
                continue
            tag = parsed.quant or "latest"
            shown = f"hf.co/{repo.repo_id}:{tag}"
            parts = split_siblings(parsed) if parsed.parts > 1 else [rel]
            absent = [p for p in parts if p not in files]
            if absent:
                yield ImportResult(shown, "skipped", f"the split model is incomplete ({', '.join(absent)} missing)")
                continue
            yield _import_hf_model(store, shown, [files[p].blob_path for p in parts])


def _import_hf_model(store: ModelStore, shown: str, blobs: list[Path]) -> ImportResult:
    from ember.backend.store.names import parse_name

    try:
        name = parse_name(shown)
        if store.exists(name):
            return ImportResult(shown, "skipped", "already in ember")
        for _ in register_steps(store, name, blobs, link=True):
            pass
    except EmberError as exc:
        return ImportResult(shown, "skipped", str(exc))
    return ImportResult(shown, "imported", "")


