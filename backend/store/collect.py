"""Garbage collection of the model store: remove only what nothing holds.

A blob is held by a manifest that names it, by an upload younger than UPLOAD_GRACE (a client
uploads with /api/blobs, then creates with /api/create), or by a writer in flight: a create or
pull takes a shared lock on `<store>/collect.lock` for as long as it runs, and collection needs
the exclusive lock, taken without waiting. While any writer runs (in this process or another),
nothing is collected: the next `ember rm`, prune or start-up check does it. A killed writer's lock
goes with it, so what it left is collected next time. Staged downloads (kept so a pull resumes)
are removed past PARTIAL_MAX_AGE, past PARTIAL_MAX_BYTES together (oldest first), or on a prune.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ember.backend.errors import EmberError

if TYPE_CHECKING:
    from ember.backend.store.modelstore import ModelStore

UPLOAD_GRACE = 24 * 3600.0  # seconds an uploaded blob is kept for the create that uses it
PARTIAL_MAX_AGE = 7 * 24 * 3600.0  # seconds a staged download is kept for resuming
PARTIAL_MAX_BYTES = 16 << 30  # all staged downloads together
LOCK_NAME = "collect.lock"
UPLOADS = "uploads"
STAGED_PREFIX = ".partial-sha256-"


def _lock_file(store: ModelStore) -> int:
    store.root.mkdir(parents=True, exist_ok=True)
    return os.open(store.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)


@contextmanager
def writing(store: ModelStore) -> Iterator[None]:
    """Hold off collection while a create or pull references blobs it has not written a manifest for."""
    fd = _lock_file(store)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def _exclusive(store: ModelStore) -> Iterator[bool]:
    fd = _lock_file(store)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False  # a writer is in flight: collect another time
            return
        yield True
    finally:
        os.close(fd)


def note_upload(store: ModelStore, digest_hex: str) -> None:
    """Remember that a client uploaded this blob now, so collection spares it for UPLOAD_GRACE."""
    folder = store.root / UPLOADS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"sha256-{digest_hex}").touch()


def _recent_uploads(store: ModelStore, now: float) -> set[str]:
    folder = store.root / UPLOADS
    kept: set[str] = set()
    for record in folder.glob("sha256-*") if folder.is_dir() else ():
        try:
            fresh = now - record.stat().st_mtime < UPLOAD_GRACE
        except FileNotFoundError:
            continue
        if fresh and (store.blobs / record.name).exists():
            kept.add(record.name)
        else:
            record.unlink(missing_ok=True)
    return kept


def _referenced(store: ModelStore) -> set[str] | None:
    """The blob file names some manifest names; None when a manifest cannot be read."""
    used: set[str] = set()
    for name in store.iter_names():
        try:
            manifest = store.read_manifest(name)
        except EmberError:
            return None  # never collect blobs while a manifest cannot be read
        used.update(layer.digest.replace(":", "-") for layer in (manifest.config, *manifest.layers))
    return used


def staged_downloads(store: ModelStore) -> list[tuple[Path, os.stat_result]]:
    """Staged downloads, oldest first."""
    if not store.blobs.is_dir():
        return []
    found = []
    for path in store.blobs.glob(f"{STAGED_PREFIX}*"):
        try:
            found.append((path, path.stat()))
        except FileNotFoundError:
            continue
    return sorted(found, key=lambda item: item[1].st_mtime)


def _stale_partials(store: ModelStore, now: float, every: bool) -> list[Path]:
    staged = staged_downloads(store)
    total = sum(stat.st_size for _, stat in staged)
    stale = []
    for path, stat in staged:
        if every or now - stat.st_mtime > PARTIAL_MAX_AGE or total > PARTIAL_MAX_BYTES:
            stale.append(path)
            total -= stat.st_size
    return stale


def collect(store: ModelStore, *, partials: bool = False) -> list[str]:
    """Remove unreferenced blobs nothing holds, dead writers' temp files and stale staged downloads.

    `partials` removes every staged download too (a prune). Returns the names of what went;
    nothing when a writer is in flight or a manifest cannot be read.
    """
    if not store.blobs.is_dir():
        return []
    from ember.backend.store.blobs import TEMP_PREFIX
    from ember.backend.store.recovery import writer_is_gone

    with _exclusive(store) as alone:
        if not alone:
            return []
        used = _referenced(store)
        if used is None:
            return []
        now = time.time()
        used |= _recent_uploads(store, now)
        removed = []
        for path in _stale_partials(store, now, partials):
            path.unlink(missing_ok=True)
            removed.append(path.name)
        for path in store.blobs.iterdir():
            stale_temp = path.name.startswith(TEMP_PREFIX) and writer_is_gone(path.name)
            if stale_temp or (path.name.startswith("sha256-") and path.name not in used):
                path.unlink(missing_ok=True)
                removed.append(path.name)
        for link in (store.root / "splits").glob("*/*.gguf"):
            if not link.exists() or (not link.is_symlink() and link.stat().st_nlink == 1):
                shutil.rmtree(link.parent, ignore_errors=True)  # its blobs were collected
        if store.manifests.is_dir():
            for path in store.manifests.rglob(f"{TEMP_PREFIX}*"):
                if writer_is_gone(path.name):
                    path.unlink(missing_ok=True)
        return removed
