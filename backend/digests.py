"""sha256 of a file, with progress: the store's blob names, uploads and the remote client's blob checks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator
from pathlib import Path

Progress = Callable[[int, int], None]
_CHUNK = 4 << 20


def hash_file(path: Path, progress: Progress | None = None) -> str:
    steps = hash_steps(path)
    while True:
        try:
            done, total = next(steps)
        except StopIteration as end:
            return end.value
        if progress:
            progress(done, total)


def hash_steps(path: Path) -> Generator[tuple[int, int], None, str]:
    """Hash `path`, yielding (bytes done, total) as it goes; returns the sha256 hex."""
    total = path.stat().st_size
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            yield done, total
    return digest.hexdigest()
