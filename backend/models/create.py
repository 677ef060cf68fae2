"""`ember create`: build a model in the store from a Modelfile.

The weights are never copied: FROM a model reuses its blob, FROM a file hard-links it into the
store when it can. Each of template, system, params, messages, license and adapter is a layer of
its own, the manifest is written last, and a layer whose blob exists already is reused. With
`quantize`, llama.cpp's quantiser writes the weights anew, as a blob of their own.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ember.backend.digests import hash_file
from ember.backend.errors import Cancelled, EmberError, InvalidName, ModelfileError
from ember.backend.models.modelfile import Modelfile, names_a_file, parse_modelfile
from ember.backend.store.ggufmeta import is_gguf, read_gguf_meta
from ember.backend.store.modelrecord import load_record
from ember.backend.store.modelstore import (
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
    ModelStore,
)
from ember.backend.store.names import ModelName, parse_name
from ember.backend.types import PullProgress

_LAYER_ORDER = (MEDIA_MODEL, MEDIA_PROJECTOR, MEDIA_ADAPTER, MEDIA_TEMPLATE, MEDIA_SYSTEM, MEDIA_PARAMS, MEDIA_MESSAGES, MEDIA_LICENSE)


@dataclass
class _Base:
    config: Layer
    layers: list[Layer] = field(default_factory=list)  # the model's weights and what it inherits
    parameters: dict[str, object] = field(default_factory=dict)


def create_model(store: ModelStore, name: ModelName, modelfile_text: str, base_dir: Path | None, *,
                 quantize: str | None = None, cancel: threading.Event | None = None) -> Iterator[PullProgress]:
    """Create `name` from Modelfile text, yielding Ollama's progress statuses.

    With `base_dir` None (a request over the network) no file is read: FROM must name a model
    and ADAPTER is refused, so a client cannot make the server read or link its files.
    `quantize` (e.g. "q4_K_M") writes the base's weights anew in that type.
    """
    modelfile = parse_modelfile(modelfile_text)
    quant = None
    if quantize:
        from ember.backend.engine.quantize import parse_quant_type

        quant = parse_quant_type(quantize)
    with store.writing():  # no collection deletes a blob this create uses before its manifest is written
        yield from _create(store, name, modelfile, base_dir, quant, cancel or threading.Event())


def _create(store: ModelStore, name: ModelName, modelfile: Modelfile, base_dir: Path | None, quant: str | None,
            cancel: threading.Event) -> Iterator[PullProgress]:
    yield PullProgress("gathering model components")
    base = yield from _resolve_base(store, modelfile, base_dir)
    if quant:
        base = yield from _quantized(store, base, quant, cancel)
    layers = list(base.layers)
    for value in modelfile.projectors:  # a new projector replaces the one the base has
        layer = yield from _projector(store, value, base_dir, modelfile.lines.get("FROM projector", 0))
        layers = [kept for kept in layers if kept.media_type != MEDIA_PROJECTOR] + [layer]
    for adapter in modelfile.adapters:
        path = _local_file(adapter, base_dir, "ADAPTER", modelfile.lines.get("ADAPTER", 0))
        layer = yield from _add_file(store, path, MEDIA_ADAPTER)
        layers.append(layer)

    def replace(media_type: str, data: bytes | None) -> Iterator[PullProgress]:
        nonlocal layers
        layers = [layer for layer in layers if layer.media_type != media_type]
        if data:
            layers.append((yield from _add_bytes(store, data, media_type)))

    if modelfile.template is not None:
        yield from replace(MEDIA_TEMPLATE, modelfile.template.encode())
    if modelfile.system is not None:
        yield from replace(MEDIA_SYSTEM, modelfile.system.encode())
    if modelfile.parameters:
        merged = {**base.parameters, **modelfile.parameters}
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in merged.items()}
        yield from replace(MEDIA_PARAMS, json.dumps(params, sort_keys=True).encode())
    if modelfile.messages:
        turns = [{"role": m.role, "content": m.content} for m in modelfile.messages]
        yield from replace(MEDIA_MESSAGES, json.dumps(turns, ensure_ascii=False).encode())
    if modelfile.license:
        yield from replace(MEDIA_LICENSE, "\n\n".join(modelfile.license).encode())
    layers.sort(key=lambda layer: _LAYER_ORDER.index(layer.media_type))
    yield PullProgress("writing manifest")
    store.write_manifest(name, Manifest(base.config, tuple(layers)))
    yield PullProgress("success")


def _resolve_base(store: ModelStore, modelfile: Modelfile, base_dir: Path | None) -> Generator[PullProgress, None, _Base]:
    value, line = modelfile.base, modelfile.lines.get("FROM", 0)
    if value.startswith(("sha256:", "@sha256:")):  # a file uploaded to this store (Ollama's /api/blobs)
        return (yield from _base_from_blob(store, value.removeprefix("@"), line))
    looks_like_path = names_a_file(value)
    if base_dir is None:
        if looks_like_path:
            raise ModelfileError(f"FROM {value}: over the API, FROM names a model, never a file on the "
                                 "server — run ember create on the machine that holds the file", line)
    else:
        path = Path(value).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if path.exists():
            return (yield from _base_from_file(store, _gguf_in(path, value, line)))
        if looks_like_path:
            raise ModelfileError(f'FROM {value}: no such file or folder (looked for {path})', line)
    try:
        base_name = parse_name(value)
    except InvalidName as exc:
        raise ModelfileError(f"FROM {value}: {exc}", line) from None
    if not store.exists(base_name):
        yield from _pull_packaged(store, base_name, value, line)
    record = load_record(store, base_name)
    manifest = record.manifest
    for layer in manifest.layers:
        yield PullProgress(f"using existing layer {layer.digest}", digest=layer.digest)
    return _Base(manifest.config, list(manifest.layers), dict(record.parameters))


def _quantized(store: ModelStore, base: _Base, quant: str, cancel: threading.Event) -> Generator[PullProgress, None, _Base]:
    """`base` with its weights quantised to `quant` by llama.cpp, stored as a new blob with a new config."""
    from ember.backend.engine.quantize import quantize_steps
    from ember.backend.pull.register import config_layer

    weights = [layer for layer in base.layers if layer.media_type == MEDIA_MODEL]
    if len(weights) != 1:
        raise EmberError(f"cannot quantize a model whose weights are split in {len(weights)} files; "
                         "merge them first (llama-gguf-split --merge)")
    source = store.blob_path(weights[0].digest)
    status = f"quantizing {read_gguf_meta(source).file_type or 'the'} model to {quant}"
    tmp = store.scratch_path()
    try:
        for done, total in quantize_steps(source, tmp, quant):
            yield PullProgress(status, total=total, completed=done)
            if cancel.is_set():
                raise Cancelled("create cancelled")
        actual = hash_file(tmp)
        digest = f"sha256:{actual}"
        store.commit_temp(tmp, digest, actual=actual)
    finally:
        tmp.unlink(missing_ok=True)
    yield PullProgress(f"creating new layer {digest}", digest=digest)
    quantized = Layer(MEDIA_MODEL, digest, store.blob_path(digest).stat().st_size)
    layers = [quantized if layer is weights[0] else layer for layer in base.layers]
    return _Base(config_layer(store, read_gguf_meta(store.blob_path(digest))), layers, base.parameters)


def _base_from_blob(store: ModelStore, value: str, line: int) -> Generator[PullProgress, None, _Base]:
    try:
        present = store.has_blob(value)
    except InvalidName as exc:
        raise ModelfileError(f"FROM {value}: {exc}", line) from None
    if not present:
        raise ModelfileError(f"FROM {value}: no such file in the model store; upload it first "
                             f"(POST /api/blobs/{value})", line)
    return (yield from _base_from_file(store, _gguf_in(store.blob_path(value), value, line)))


def _pull_packaged(store: ModelStore, name: ModelName, value: str, line: int) -> Iterator[PullProgress]:
    """A missing base that ships as a Python package is registered, as `ollama create` pulls."""
    from ember.backend.pull.packages import PACKAGED_MODELS, find_packaged_gguf, packaged_layers
    from ember.backend.pull.register import register_gguf

    packaged = PACKAGED_MODELS.get(name.display())
    if packaged is None:
        raise ModelfileError(f'FROM {value}: model "{name.display()}" not found — pull it first '
                             f'("ember pull {value}") or give the path of a .gguf file', line)
    yield PullProgress("pulling manifest")
    events: list[PullProgress] = []
    register_gguf(store, name, find_packaged_gguf(packaged), extra_layers=packaged_layers(store, packaged),
                  progress=events.append)
    yield from (e for e in events if e.status != "success")


def _gguf_in(path: Path, value: str, line: int) -> Path:
    if path.is_dir():
        found = sorted(path.glob("*.gguf"))
        if not found:
            raise ModelfileError(f"FROM {value}: the folder holds no .gguf file", line)
        if len(found) > 1:
            names = ", ".join(p.name for p in found[:4])
            raise ModelfileError(f"FROM {value}: the folder holds several .gguf files ({names}); name one", line)
        path = found[0]
    if not is_gguf(path):
        raise ModelfileError(f"FROM {value}: not a GGUF model file", line)
    return path


def _projector(store: ModelStore, value: str, base_dir: Path | None, line: int
               ) -> Generator[PullProgress, None, Layer]:
    """A second FROM: a vision projector GGUF (a file, or over the API a blob uploaded first)."""
    from ember.backend.store.ggufmeta import read_gguf_metadata

    digest = value.removeprefix("@")
    if digest.startswith("sha256:"):
        try:
            present = store.has_blob(digest)
        except InvalidName as exc:
            raise ModelfileError(f"FROM {value}: {exc}", line) from None
        if not present:
            raise ModelfileError(f"FROM {value}: no such file in the model store; upload it first "
                                 f"(POST /api/blobs/{digest})", line)
        path = store.blob_path(digest)
    else:
        path = _local_file(value, base_dir, "FROM", line)
    if not is_gguf(path):
        raise ModelfileError(f"FROM {value}: not a GGUF file", line)
    arch = read_gguf_metadata(path).get("general.architecture")
    if arch != "clip":
        raise ModelfileError(f"FROM {value}: a second FROM must be a vision projector (an mmproj GGUF, "
                             f"architecture clip); this one is {arch or 'not a model file'}", line)
    if digest.startswith("sha256:"):
        return Layer(MEDIA_PROJECTOR, digest, path.stat().st_size)
    return (yield from _add_file(store, path, MEDIA_PROJECTOR))


def _local_file(value: str, base_dir: Path | None, what: str, line: int) -> Path:
    if base_dir is None:
        raise ModelfileError(f"{what} {value}: over the API, no file on the server is read — run ember "
                             "create on the machine that holds the file", line)
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise ModelfileError(f"{what} {value}: no such file (looked for {path})", line)
    if not is_gguf(path):
        raise ModelfileError(f"{what} {value}: not a GGUF file (a LoRA adapter must be converted to GGUF)", line)
    return path


def _base_from_file(store: ModelStore, path: Path) -> Generator[PullProgress, None, _Base]:
    from ember.backend.pull.register import config_layer

    yield PullProgress("parsing GGUF")
    meta = read_gguf_meta(path)
    model = yield from _add_file(store, path, MEDIA_MODEL)
    return _Base(config_layer(store, meta), [model])


def _add_file(store: ModelStore, path: Path, media_type: str) -> Generator[PullProgress, None, Layer]:
    """Hash `path` with progress, then reuse its blob or link it into the store."""
    size = path.stat().st_size
    events: queue.Queue[tuple[int, int] | None] = queue.Queue()
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["digest"] = "sha256:" + hash_file(path, lambda done, total: events.put((done, total)))
        except BaseException as exc:  # re-raised below, in the caller's thread
            outcome["error"] = exc
        finally:
            events.put(None)

    threading.Thread(target=work, name="ember-hash", daemon=True).start()
    while (event := events.get()) is not None:
        done, total = event
        yield PullProgress("copying file", total=total, completed=done)
    if "error" in outcome:
        error = outcome["error"]
        raise error if isinstance(error, EmberError) else EmberError(f"could not read {path}: {error}")
    digest = str(outcome["digest"])
    if store.has_blob(digest):
        yield PullProgress(f"using existing layer {digest}", digest=digest)
        return Layer(media_type, digest, size)
    layer = store.add_file(path, media_type)
    yield PullProgress(f"creating new layer {layer.digest}", digest=layer.digest)
    return layer


def _add_bytes(store: ModelStore, data: bytes, media_type: str) -> Generator[PullProgress, None, Layer]:
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    existing = store.has_blob(digest)
    layer = store.write_bytes(data, media_type)
    yield PullProgress(f"{'using existing' if existing else 'creating new'} layer {layer.digest}", digest=layer.digest)
    return layer
