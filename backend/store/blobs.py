"""Blob I/O: content-addressed files written atomically (temp file, fsync, rename) and verified by sha256."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ember.backend.digests import hash_file
from ember.backend.errors import CorruptBlob, EmberError
from ember.backend.store.manifest import Layer
from ember.backend.store.names import parse_digest

TEMP_PREFIX = ".partial-"
_CHUNK = 4 << 20

Progress = Callable[[int, int], None]


def _write_file(tmp: Path, data: bytes) -> None:
    """Write and fsync `tmp`; on a full disk (or any write error) remove it and say so in one line."""
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise EmberError(f"could not write to the model store ({tmp.parent}): {exc.strerror or exc} — "
                         "free some disk space and try again; nothing was changed") from None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """The `blobs/` half of the store (a part of ModelStore)."""

    blobs: Path

    if TYPE_CHECKING:  # the other parts of ModelStore this one uses
        def _ensure(self) -> None: ...

    def blob_path(self, digest: str) -> Path:
        return self.blobs / f"sha256-{parse_digest(digest)}"

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def temp_path(self, digest: str) -> Path:
        """Where a download of `digest` is staged; kept across interruptions so it can resume."""
        self._ensure()
        return self.blobs / f"{TEMP_PREFIX}sha256-{parse_digest(digest)}"

    def write_bytes(self, data: bytes, media_type: str) -> Layer:
        """Store `data` as a blob (no-op when an identical blob exists)."""
        self._ensure()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        final = self.blob_path(digest)
        if not final.exists():
            tmp = self.scratch_path()
            _write_file(tmp, data)
            os.replace(tmp, final)
            _fsync_dir(self.blobs)
        return Layer(media_type, digest, len(data))

    def scratch_path(self) -> Path:
        """A fresh file name beside the blobs, for what is written before its digest is known to match."""
        self._ensure()
        return self.blobs / f"{TEMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}"

    def read_blob(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def add_file(self, source: Path, media_type: str, *, link: bool = True,
                 progress: Progress | None = None, digest: str | None = None) -> Layer:
        """Hash `source` and store it as a blob: hard-linked when possible, else copied and fsynced.

        A caller that has just hashed `source` passes its `digest` to skip hashing it again.
        """
        self._ensure()
        size = source.stat().st_size
        digest = digest or "sha256:" + hash_file(source, progress)
        final = self.blob_path(digest)
        if final.exists():
            return Layer(media_type, digest, size)
        tmp = self.scratch_path()
        linked = False
        if link:
            try:
                os.link(source, tmp)
                linked = True
            except OSError:
                linked = False
        if not linked:
            try:
                with open(source, "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                    dst.flush()
                    os.fsync(dst.fileno())
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise EmberError(f"could not copy {source} into the model store: {exc.strerror}") from exc
        os.replace(tmp, final)
        _fsync_dir(self.blobs)
        return Layer(media_type, digest, size)

    def commit_temp(self, tmp: Path, digest: str, *, actual: str | None = None) -> None:
        """Verify a staged download against its digest (or the sha256 hex `actual` just computed) and move it into place."""
        actual = actual or hash_file(tmp)
        if actual != parse_digest(digest):
            tmp.unlink(missing_ok=True)
            raise CorruptBlob(f"download of {digest} is corrupt (got sha256:{actual}); pull again")
        os.replace(tmp, self.blob_path(digest))
        _fsync_dir(self.blobs)

    def verify_blob(self, digest: str) -> None:
        path = self.blob_path(digest)
        if not path.is_file():
            raise CorruptBlob(f"blob {digest} is missing from {self.blobs}; pull the model again")
        if hash_file(path) != parse_digest(digest):
            raise CorruptBlob(f"blob {digest} is corrupt ({path}); remove the model and pull it again")
