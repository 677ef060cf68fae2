"""A model's weights are checked against their sha256 before llama.cpp first loads them.

A flipped bit or a truncated copy in `blobs/` would otherwise load as garbage or crash llama.cpp.
Hashing gigabytes on every load is too slow, so a blob once verified is remembered by its size,
mtime and inode, in memory and in `<store>/verified.json`; any change to the file hashes it again.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from ember.backend.digests import hash_file
from ember.backend.errors import CorruptBlob
from ember.backend.store.modelrecord import ModelRecord
from ember.backend.store.modelstore import (
    MEDIA_ADAPTER,
    MEDIA_MODEL,
    MEDIA_PROJECTOR,
    TEMP_PREFIX,
    ModelStore,
)

CACHE_FILE = "verified.json"
_Stamp = tuple[int, int, int]  # size, mtime in ns, inode


def _stamp(path: Path) -> _Stamp:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


class BlobVerifier:
    """Verify the weight and adapter blobs of a model once per change of the file."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._verified: dict[str, _Stamp] | None = None  # blob file name -> stamp when it was verified

    @property
    def cache_path(self) -> Path:
        return self.store.root / CACHE_FILE

    def _cache(self) -> dict[str, _Stamp]:
        if self._verified is None:
            try:
                data = json.loads(self.cache_path.read_text(encoding="utf-8"))
                self._verified = {str(k): tuple(v) for k, v in data.items() if len(v) == 3}
            except (OSError, ValueError, TypeError, AttributeError):
                self._verified = {}
        return self._verified

    def check(self, record: ModelRecord) -> None:
        """Raise CorruptBlob naming the model and the blob when a weight or adapter blob is damaged."""
        for layer in record.manifest.layers:
            if layer.media_type in (MEDIA_MODEL, MEDIA_ADAPTER, MEDIA_PROJECTOR):
                self._check_blob(record, layer.digest, layer.size)

    def _check_blob(self, record: ModelRecord, digest: str, size: int) -> None:
        path = self.store.blob_path(digest)
        what = "adapter" if path in record.adapters else "projector" if path == record.projector else "weights"
        try:
            stamp = _stamp(path)
        except FileNotFoundError:
            raise CorruptBlob(f"the {what} of {record.name} ({digest}) are missing from {self.store.blobs}: "
                              f"remove the model (ember rm {record.name}) and pull or create it again") from None
        with self._lock:
            if self._cache().get(path.name) == stamp:
                return
        if stamp[0] != size:
            raise CorruptBlob(f"the {what} of {record.name} are damaged: {path} holds {stamp[0]} bytes, its "
                              f"manifest says {size} — remove the model (ember rm {record.name}) and pull it again")
        actual = hash_file(path)
        if "sha256:" + actual != digest:
            raise CorruptBlob(f"the {what} of {record.name} are corrupt: {path} has sha256:{actual[:12]}…, not "
                              f"{digest[:19]}… — remove the model (ember rm {record.name}) and pull it again")
        with self._lock:
            cache = self._cache()
            cache[path.name] = stamp
            self._save(cache)

    def _save(self, cache: dict[str, _Stamp]) -> None:
        """Best effort: a store on a read-only disk still loads, it only hashes again next time."""
        live = {name: stamp for name, stamp in cache.items() if (self.store.blobs / name).exists()}
        tmp = self.store.root / f"{TEMP_PREFIX}{os.getpid()}-{CACHE_FILE}"
        try:
            tmp.write_text(json.dumps(live, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.cache_path)
        except OSError:
            tmp.unlink(missing_ok=True)
