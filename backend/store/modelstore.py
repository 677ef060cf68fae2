"""The model store, in Ollama's layout: `blobs/sha256-<hex>` and `manifests/<host>/<ns>/<model>/<tag>`.

Every write is atomic (temp file in the same directory, fsync, rename) and a manifest is written
only after all of its blobs are in place, so an interrupted pull or create never shows as a model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ember.backend.digests import hash_file
from ember.backend.errors import CorruptBlob, EmberError, ModelNotFound
from ember.backend.store.names import ModelName, parse_digest, parse_name

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
MEDIA_MODEL = "application/vnd.ollama.image.model"
MEDIA_ADAPTER = "application/vnd.ollama.image.adapter"
MEDIA_TEMPLATE = "application/vnd.ollama.image.template"
MEDIA_SYSTEM = "application/vnd.ollama.image.system"
MEDIA_PARAMS = "application/vnd.ollama.image.params"
MEDIA_MESSAGES = "application/vnd.ollama.image.messages"
MEDIA_LICENSE = "application/vnd.ollama.image.license"

TEMP_PREFIX = ".partial-"
_CHUNK = 4 << 20

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Layer:
    media_type: str
    digest: str  # "sha256:<hex>"
    size: int

    def to_json(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Layer:
        digest = str(data["digest"])
        parse_digest(digest)
        return cls(str(data["mediaType"]), digest, int(data["size"]))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Manifest:
    config: Layer
    layers: tuple[Layer, ...] = field(default_factory=tuple)

    def layer(self, media_type: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.media_type == media_type), None)

    @property
    def size(self) -> int:
        return self.config.size + sum(layer.size for layer in self.layers)

    def to_bytes(self) -> bytes:
        data = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }
        return json.dumps(data, indent=None, separators=(",", ":")).encode()

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        data = json.loads(raw)
        return cls(Layer.from_json(data["config"]), tuple(Layer.from_json(x) for x in data["layers"]))


@dataclass(frozen=True)
class StoredModel:
    name: ModelName
    manifest: Manifest
    modified: float


@dataclass
class StoreCheck:
    """What `ModelStore.recover` found: temp files it removed, and models it could not read."""

    removed: list[Path] = field(default_factory=list)
    damaged: dict[str, str] = field(default_factory=dict)  # model name -> what is wrong


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


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.manifests = self.root / "manifests"

    def _ensure(self) -> None:
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.manifests.mkdir(parents=True, exist_ok=True)

    # blobs ---------------------------------------------------------------------------------

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

    def verify_blob(self, digest: str) -> None:
        path = self.blob_path(digest)
        if not path.is_file():
            raise CorruptBlob(f"blob {digest} is missing from {self.blobs}; pull the model again")
        if hash_file(path) != parse_digest(digest):
            raise CorruptBlob(f"blob {digest} is corrupt ({path}); remove the model and pull it again")

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

        return collect(self, partials=partials)

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Hold off collection (in every process) while a create or pull is in flight."""
        from ember.backend.store.collect import writing

        return writing(self)


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
