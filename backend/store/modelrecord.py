"""Everything the store knows about one model, read from its manifest's layers into one dataclass."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.backend.errors import CorruptBlob, EmberError
from ember.backend.store.ggufmeta import GGUFMeta
from ember.backend.store.modelstore import (
    MEDIA_ADAPTER,
    MEDIA_LICENSE,
    MEDIA_MESSAGES,
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_PROJECTOR,
    MEDIA_SYSTEM,
    MEDIA_TEMPLATE,
    Manifest,
    ModelStore,
)
from ember.backend.store.names import ModelName
from ember.backend.types import Message, ModelDetails


@dataclass
class ModelRecord:
    name: ModelName
    manifest: Manifest
    modified: float
    model_path: Path
    meta: GGUFMeta
    parameters: dict[str, Any] = field(default_factory=dict)
    template: str = ""  # a Modelfile TEMPLATE (Ollama's Go-template syntax); "" = the GGUF's own
    system: str = ""
    messages: list[Message] = field(default_factory=list)
    license: str = ""
    adapters: tuple[Path, ...] = ()
    projector: Path | None = None  # a vision projector (mmproj GGUF): the model reads images

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def details(self) -> ModelDetails:
        arch = self.meta.architecture
        return ModelDetails(
            format="gguf",
            family=arch,
            families=[arch] if arch else [],
            parameter_size=self.meta.parameter_size,
            quantization_level=self.meta.file_type,
        )

    @property
    def capabilities(self) -> list[str]:
        caps = ["completion"]
        template = self.template or self.meta.chat_template
        if "tools" in template if "{%" in template else ".Tools" in template:
            caps.append("tools")
        if ".Suffix" in self.template:  # Ollama's test for fill-in-the-middle
            caps.append("insert")
        if self.projector is not None:
            caps.append("vision")
        if self.thinks:
            caps.append("thinking")
        return caps

    @property
    def thinks(self) -> bool:
        """The template in use has a thinking switch (`.Think`, `enable_thinking`) or thinks in tags."""
        if self.template:
            return ".Think" in self.template
        jinja = self.meta.chat_template
        return any(mark in jinja for mark in ("enable_thinking", "reasoning_effort", "<think>", "<|channel|>"))

    @property
    def think_levels(self) -> bool:
        """The template takes a level of effort ("low" | "medium" | "high"), as gpt-oss's does."""
        return ".ThinkLevel" in self.template if self.template else "reasoning_effort" in self.meta.chat_template

    @property
    def channels(self) -> bool:
        """The model answers in gpt-oss's channels (`<|channel|>analysis` for thinking)."""
        return "<|channel|>" in (self.template or self.meta.chat_template)


def _text(store: ModelStore, digest: str) -> str:
    return store.read_blob(digest).decode("utf-8")


def load_record(store: ModelStore, name: str | ModelName) -> ModelRecord:
    stored = store.get(name)
    manifest = stored.manifest
    model_layer = manifest.layer(MEDIA_MODEL)
    if model_layer is None:
        raise CorruptBlob(f"{stored.name} has no model weights in its manifest; pull or create it again")
    try:
        config = json.loads(store.read_blob(manifest.config.digest))
        meta = GGUFMeta.from_json(config["ember_gguf"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptBlob(f"the config of {stored.name} is unreadable ({exc}); pull or create it again")
    parts = [layer.digest for layer in manifest.layers if layer.media_type == MEDIA_MODEL]
    model_path = store.blob_path(parts[0]) if len(parts) == 1 else store.split_view(parts)
    record = ModelRecord(stored.name, manifest, stored.modified, model_path, meta)
    try:
        for layer in manifest.layers:
            kind = layer.media_type
            if kind == MEDIA_PARAMS:
                record.parameters = json.loads(store.read_blob(layer.digest))
            elif kind == MEDIA_TEMPLATE:
                record.template = _text(store, layer.digest)
            elif kind == MEDIA_SYSTEM:
                record.system = _text(store, layer.digest)
            elif kind == MEDIA_LICENSE:
                record.license = _text(store, layer.digest)
            elif kind == MEDIA_MESSAGES:
                record.messages = [Message(m["role"], m["content"]) for m in json.loads(store.read_blob(layer.digest))]
            elif kind == MEDIA_ADAPTER:
                record.adapters += (store.blob_path(layer.digest),)
            elif kind == MEDIA_PROJECTOR:
                record.projector = store.blob_path(layer.digest)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EmberError(f"a layer of {stored.name} is unreadable ({exc}); create or pull it again")
    if not record.license:
        record.license = meta.license
    return record
