"""The split-GGUF view: the blobs of a model in parts, linked under the names llama.cpp looks for."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING


class SplitViews:
    """`splits/` (a part of ModelStore)."""

    root: Path

    if TYPE_CHECKING:  # the other parts of ModelStore this one uses
        def blob_path(self, digest: str) -> Path: ...

    def split_view(self, digests: list[str]) -> Path:
        """The first file of a split GGUF, as links named the way llama.cpp finds the other parts.

        llama.cpp loads `x-00001-of-0000N.gguf` and looks for its siblings beside it by name, so
        the content-addressed blobs get a folder of symlinks (hard links where symlinks fail).
        """
        key = hashlib.sha256("".join(digests).encode()).hexdigest()[:16]
        folder = self.root / "splits" / key
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"model-{i:05d}-of-{len(digests):05d}.gguf" for i in range(1, len(digests) + 1)]
        for digest, path in zip(digests, paths):
            if path.exists():
                continue
            blob = self.blob_path(digest)
            try:
                path.symlink_to(blob)
            except OSError:
                os.link(blob, path)
        return paths[0]
