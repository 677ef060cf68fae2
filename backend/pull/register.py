"""Turn a GGUF file on disk into a model in the store: blob, config, manifest last."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from pathlib import Path

from backend.ggufmeta import GGUFMeta, read_gguf_meta
from backend.names import ModelName
from backend.store import CONFIG_MEDIA_TYPE, MEDIA_MODEL, Layer, Manifest, ModelStore
from backend.types import PullProgress

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


def register_gguf(store: ModelStore, name: ModelName, path: Path, *, link: bool = True,
                  extra_layers: tuple[Layer, ...] = (), progress: ProgressSink | None = None) -> Manifest:
    """Store `path` as `name`. The GGUF is checked first, so nothing is written for a bad file."""
    sink = progress or (lambda _p: None)
    meta = read_gguf_meta(path)
    size = path.stat().st_size
    sink(PullProgress("verifying sha256 digest", total=size))
    model = store.add_file(path, MEDIA_MODEL, link=link,
                           progress=lambda done, total: sink(PullProgress("verifying sha256 digest",
                                                                          total=total, completed=done)))
    sink(PullProgress("writing manifest"))
    manifest = Manifest(config_layer(store, meta), (model, *extra_layers))
    store.write_manifest(name, manifest)
    sink(PullProgress("success"))
    return manifest
