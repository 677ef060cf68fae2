"""The model store, in Ollama's layout: `blobs/sha256-<hex>` and `manifests/<host>/<ns>/<model>/<tag>`.

Every write is atomic (temp file in the same directory, fsync, rename) and a manifest is written
only after all of its blobs are in place, so an interrupted pull or create never shows as a model.
This module holds the manifests by name; the other parts of the store are `manifest.py` (the format),
`blobs.py` (blob I/O), `splitview.py` (split GGUFs) and `recovery.py` (the self-check and garbage
collection).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ember.backend.errors import CorruptBlob, EmberError, ModelNotFound
from ember.backend.store.blobs import TEMP_PREFIX, BlobStore, Progress, _fsync_dir, _write_file
from ember.backend.store.manifest import (
    CONFIG_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    MEDIA_ADAPTER,
    MEDIA_LICENSE,
    MEDIA_MESSAGES,
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_PROJECTOR,
    MEDIA_SYSTEM,
    MEDIA_TEMPLATE,
    Layer,
    Manifest,
)
from ember.backend.store.names import ModelName, parse_name
from ember.backend.store.recovery import Recovery, StoreCheck
from ember.backend.store.splitview import SplitViews

__all__ = [  # the store's vocabulary, importable from here as before the split
    "CONFIG_MEDIA_TYPE", "MANIFEST_MEDIA_TYPE", "MEDIA_ADAPTER", "MEDIA_LICENSE", "MEDIA_MESSAGES", "MEDIA_MODEL",
    "MEDIA_PARAMS", "MEDIA_PROJECTOR", "MEDIA_SYSTEM", "MEDIA_TEMPLATE", "TEMP_PREFIX", "Layer", "Manifest", "ModelStore", "Progress",
    "StoreCheck", "StoredModel",
]


@dataclass(frozen=True)
class StoredModel:
    name: ModelName
    manifest: Manifest
    modified: float


class ModelStore(BlobStore, SplitViews, Recovery):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.manifests = self.root / "manifests"

    def _ensure(self) -> None:
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.manifests.mkdir(parents=True, exist_ok=True)

    # manifests -----------------------------------------------------------------------------

    def manifest_path(self, name: ModelName) -> Path:
        return self.manifests.joinpath(*name.parts)

    def _resolve(self, name: ModelName) -> Path | None:
        exact = self.manifest_path(name)
        if exact.is_file():
            return exact
        wanted = [p.lower() for p in name.parts]
        for stored in self.iter_names():
            if [p.lower() for p in stored.parts] == wanted:
                return self.manifest_path(stored)
        return None

    def write_manifest(self, name: ModelName, manifest: Manifest) -> None:
        for layer in (manifest.config, *manifest.layers):
            if not self.has_blob(layer.digest):
                raise EmberError(f"cannot write manifest for {name}: blob {layer.digest} is missing")
        path = self.manifest_path(name)
        existing = self._resolve(name)
        if existing is not None and existing != path:
            path = existing
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{TEMP_PREFIX}{os.getpid()}-{path.name}"
        _write_file(tmp, manifest.to_bytes())
        os.replace(tmp, path)
        _fsync_dir(path.parent)

    def read_manifest(self, name: ModelName) -> Manifest:
        path = self._resolve(name)
        if path is None:
            raise ModelNotFound(name.display())
        try:
            return Manifest.from_bytes(path.read_bytes())
        except (ValueError, KeyError, TypeError, EmberError) as exc:
            raise CorruptBlob(f"manifest of {name} is damaged ({path}): {exc}; remove and pull it again")

    def get(self, name: str | ModelName) -> StoredModel:
        parsed = parse_name(name) if isinstance(name, str) else name
        path = self._resolve(parsed)
        if path is None:
            raise ModelNotFound(parsed.display())
        stored = ModelName(*path.relative_to(self.manifests).parts)
        return StoredModel(stored, self.read_manifest(stored), path.stat().st_mtime)

    def exists(self, name: ModelName) -> bool:
        return self._resolve(name) is not None

    def iter_names(self) -> Iterator[ModelName]:
        if not self.manifests.is_dir():
            return
        for path in self.manifests.glob("*/*/*/*"):
            if path.is_file() and not path.name.startswith(TEMP_PREFIX):
                yield ModelName(*path.relative_to(self.manifests).parts)

    def list(self) -> list[StoredModel]:
        models = []
        for name in self.iter_names():
            try:
                models.append(self.get(name))
            except EmberError:
                continue  # a damaged manifest is reported by `get`, not by `list`
        return sorted(models, key=lambda m: m.modified, reverse=True)

    def delete(self, name: ModelName) -> ModelName:
        path = self._resolve(name)
        if path is None:
            raise ModelNotFound(name.display())
        stored = ModelName(*path.relative_to(self.manifests).parts)
        path.unlink()
        for parent in list(path.parents)[:3]:
            try:
                parent.rmdir()
            except OSError:
                break
        self.prune()
        return stored

    def copy(self, source: ModelName, destination: ModelName) -> None:
        self.write_manifest(destination, self.read_manifest(source))
