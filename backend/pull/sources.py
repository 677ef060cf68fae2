"""Where a pull comes from, chosen by what the user typed; every source streams PullProgress.

- `hf.co/{user}/{repo}[:{quant}]` (or `huggingface.co/…`, or its https URL): the Hugging Face Hub
- `https://…/model.gguf`: any web server
- `./model.gguf`, `/path/to/model.gguf`, `~/…`: a file on this machine
- the names in `PACKAGED_MODELS`: models shipped as Python packages (the embedded default)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from ember.backend.errors import PullError
from ember.backend.pull import hf, local, url
from ember.backend.pull.packages import PACKAGED_MODELS, PackagedModel, find_packaged_gguf, packaged_layers
from ember.backend.pull.register import register_steps
from ember.backend.store.modelstore import ModelStore
from ember.backend.store.names import ModelName, parse_name
from ember.backend.types import PullProgress


class Source(Protocol):
    def pull(self, store: ModelStore, cancel: threading.Event) -> Iterator[PullProgress]: ...


@dataclass(frozen=True)
class HubSource:
    name: ModelName

    def pull(self, store: ModelStore, cancel: threading.Event) -> Iterator[PullProgress]:
        return hf.pull(store, self.name, cancel)


@dataclass(frozen=True)
class UrlSource:
    url: str

    def pull(self, store: ModelStore, cancel: threading.Event) -> Iterator[PullProgress]:
        return url.pull(store, self.url, cancel)


@dataclass(frozen=True)
class FileSource:
    path: Path

    def pull(self, store: ModelStore, cancel: threading.Event) -> Iterator[PullProgress]:
        return local.pull(store, self.path, cancel)


@dataclass(frozen=True)
class PackageSource:
    name: ModelName
    package: PackagedModel

    def pull(self, store: ModelStore, cancel: threading.Event) -> Iterator[PullProgress]:
        yield PullProgress("pulling manifest")
        yield from register_steps(store, self.name, [find_packaged_gguf(self.package)],
                                  extra_layers=packaged_layers(store, self.package))


def source_for(text: str) -> Source:
    """The source `text` names; an InvalidName or PullError that says what to type instead."""
    text = text.strip()
    if url.is_url(text):
        parts = urlsplit(text)
        segments = [s for s in parts.path.split("/") if s]
        if parts.netloc in hf.HOSTS and len(segments) == 2:
            return HubSource(parse_name(f"hf.co/{segments[0]}/{segments[1]}"))
        return UrlSource(text)
    if local.looks_like_path(text):
        return FileSource(Path(text))
    name = parse_name(text)
    if name.host == "hf.co":
        return HubSource(name)
    package = PACKAGED_MODELS.get(name.display())
    if package is not None:
        return PackageSource(name, package)
    raise PullError(f'cannot pull "{text}": ember pulls hf.co/{{user}}/{{repo}}[:{{quant}}] from Hugging Face, '
                    f"https://…/model.gguf, a local .gguf path, or a packaged model ({', '.join(PACKAGED_MODELS)})")


def pull(store: ModelStore, text: str, cancel: threading.Event) -> Iterator[PullProgress]:
    """Stream the progress of pulling `text` into `store`, as it happens."""
    yield from source_for(text).pull(store, cancel)
