"""Turn a GGUF file on disk into a model in the store: blob, config, manifest last."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Iterator
from pathlib import Path

from ember.backend.digests import hash_steps
from ember.backend.store.ggufmeta import GGUFMeta, read_gguf_meta
from ember.backend.store.modelstore import CONFIG_MEDIA_TYPE, MEDIA_MODEL, Layer, Manifest, ModelStore
from ember.backend.store.names import ModelName
from ember.backend.types import PullProgress

ProgressSink = Callable[[PullProgress], None]


def config_layer(store: ModelStore, meta: GGUFMeta) -> Layer:
    """Ollama's config blob, with the GGUF's metadata kept so `show` never re-reads the weights."""
    config = {
        "model_format": "gguf",
        "model_family": meta.architecture,
        "model_families": [meta.architecture] if meta.architecture else [],
        "model_type": meta.parameter_size,
        "file_type": meta.file_type,
        "architecture": platform.machine().lower().replace("x86_64", "amd64"),
        "os": platform.system().lower(),
        "ember_gguf": meta.to_json(),
    }
    return store.write_bytes(json.dumps(config, sort_keys=True).encode(), CONFIG_MEDIA_TYPE)


def read_parts_meta(paths: list[Path]) -> GGUFMeta:
    """The metadata of a GGUF, or of a split GGUF (the first part's, with every part's parameters)."""
    meta = read_gguf_meta(paths[0])
    for part in paths[1:]:
        meta.parameter_count += read_gguf_meta(part).parameter_count
    return meta


def write_model(store: ModelStore, name: ModelName, weights: list[Layer],
                extra_layers: tuple[Layer, ...] = ()) -> Iterator[PullProgress]:
    """Write the config and, last, the manifest for weights already in the store."""
    meta = read_parts_meta([store.blob_path(layer.digest) for layer in weights])
    yield PullProgress("writing manifest")
    store.write_manifest(name, Manifest(config_layer(store, meta), (*weights, *extra_layers)))
    yield PullProgress("success")


def register_steps(store: ModelStore, name: ModelName, paths: list[Path], *, link: bool = True,
                   extra_layers: tuple[Layer, ...] = ()) -> Iterator[PullProgress]:
    """Store the GGUF at `paths` (one file, or the parts of a split one) as `name`, yielding progress.

    Every part is checked first, so nothing is written for a bad file.
    """
    read_parts_meta(paths)
    weights = []
    for path in paths:
        steps = hash_steps(path)
        size = path.stat().st_size
        yield PullProgress("verifying sha256 digest", total=size)
        while True:
            try:
                done, total = next(steps)
            except StopIteration as end:
                digest = "sha256:" + end.value
                break
            yield PullProgress("verifying sha256 digest", total=total, completed=done)
        weights.append(store.add_file(path, MEDIA_MODEL, link=link, digest=digest))
    yield from write_model(store, name, weights, extra_layers)


def register_gguf(store: ModelStore, name: ModelName, path: Path, *, link: bool = True,
                  extra_layers: tuple[Layer, ...] = (), progress: ProgressSink | None = None) -> Manifest:
    """Store `path` as `name`. The GGUF is checked first, so nothing is written for a bad file."""
    for event in register_steps(store, name, [path], link=link, extra_layers=extra_layers):
        if progress:
            progress(event)
    return store.read_manifest(name)
