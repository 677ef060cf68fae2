"""Recovery and garbage collection: what a killed writer left behind, damaged models, unused blobs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ember.backend.errors import EmberError
from ember.backend.store.blobs import TEMP_PREFIX
from ember.backend.store.manifest import Manifest
from ember.backend.store.names import ModelName


@dataclass
class StoreCheck:
    """What `ModelStore.recover` found: temp files it removed, and models it could not read."""

    removed: list[Path] = field(default_factory=list)
    damaged: dict[str, str] = field(default_factory=dict)  # model name -> what is wrong


class Recovery:
    """The start-up self-check and `prune` (a part of ModelStore)."""

    root: Path
    blobs: Path
    manifests: Path

    if TYPE_CHECKING:  # the other parts of ModelStore this one uses
        def iter_names(self) -> Iterator[ModelName]: ...
        def read_manifest(self, name: ModelName) -> Manifest: ...
        def has_blob(self, digest: str) -> bool: ...

    def recover(self) -> StoreCheck:
        """The start-up self-check: remove what a killed writer left, name what is damaged.

        Only temp files whose writing process is gone are removed (a staged download stays, so a
        pull resumes, within its bounds); unreferenced blobs go when no writer in any process holds
        the store and no fresh upload holds them. Cheap: directory listings and a stat per layer.
        """
        check = StoreCheck()
        for path in self.root.glob(f"{TEMP_PREFIX}*"):
            if writer_is_gone(path.name):
                path.unlink(missing_ok=True)
                check.removed.append(path)
        if self.blobs.is_dir():
            for path in self.blobs.iterdir():
                if path.name.startswith(TEMP_PREFIX) and writer_is_gone(path.name):
                    path.unlink(missing_ok=True)
                    check.removed.append(path)
        if self.manifests.is_dir():
            for path in self.manifests.rglob(f"{TEMP_PREFIX}*"):
                if writer_is_gone(path.name):
                    path.unlink(missing_ok=True)
                    check.removed.append(path)
            for name in self.iter_names():
                try:
                    manifest = self.read_manifest(name)
                except EmberError as exc:
                    check.damaged[name.display()] = str(exc)
                    continue
                missing = [layer.digest for layer in (manifest.config, *manifest.layers)
                           if not self.has_blob(layer.digest)]
                if missing:
                    check.damaged[name.display()] = f"blob {missing[0]} is missing; pull or create it again"
        check.removed.extend(self.blobs / name for name in self.prune())
        return check

    def prune(self, *, partials: bool = False) -> list[str]:
        """Remove what nothing holds (see backend/store/collect.py); `partials` drops every staged download."""
        from ember.backend.store.collect import collect

        return collect(self, partials=partials)  # type: ignore[arg-type]  # self is a ModelStore

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Hold off collection (in every process) while a create or pull is in flight."""
        from ember.backend.store.collect import writing

        return writing(self)  # type: ignore[arg-type]


def writer_is_gone(temp_name: str) -> bool:
    """A `.partial-<pid>-…` file whose process has died; staged downloads (`.partial-sha256-…`) stay."""
    pid_text = temp_name[len(TEMP_PREFIX) :].split("-", 1)[0]
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
