"""Where a pull comes from, chosen by what the user typed; every source streams PullProgress.

- `hf.co/{user}/{repo}[:{quant}]` (or `huggingface.co/…`, or its https URL): the Hugging Face Hub
- `https://…/model.gguf`: any web server
- `./model.gguf`, `/path/to/model.gguf`, `~/…`: a file on this machine
- the names in `PACKAGED_MODELS`: models shipped as Python packages (the embedded default), first
- any other name, `[host/][namespace/]model[:tag]`: Ollama's registry (registry.ollama.ai, or the host named)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from ember.backend.errors import PullError
from ember.backend.pull import hf, local, registry, url
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
    rule: ApiRule | None = None

    def pull(self, store: ModelStore, cancel: threading.Event) -> Iterator[PullProgress]:
        if self.rule is None:
            return url.pull(store, self.url, cancel)
        return url.pull(store, self.url, cancel, allowed=self.rule.check)


@dataclass(frozen=True)
class ApiRule:
    """What a pull asked over the API may name (backend/pull/urlrule.py): never a file, only public https."""

    pull_hosts: tuple[str, ...] = ()

    def check(self, address: str) -> None:
        from ember.backend.pull.urlrule import check_api_url

        check_api_url(address, self.pull_hosts)


@dataclass(frozen=True)
class FileSource:
    path: Path

    def pull(self, store: ModelStore, cancel: threading.Event) -> Iterator[PullProgress]:
        return local.pull(store, self.path, cancel)


@dataclass(frozen=True)
class RegistrySource:
    name: ModelName
    insecure: bool = False

    def pull(self, store: ModelStore, cancel: threading.Event) -> Iterator[PullProgress]:
        return registry.pull(store, self.name, cancel, insecure=self.insecure)


@dataclass(frozen=True)
class PackageSource:
    name: ModelName
    package: PackagedModel

    def pull(self, store: ModelStore, cancel: threading.Event) -> Iterator[PullProgress]:
        yield PullProgress("pulling manifest")
        yield from register_steps(store, self.name, [find_packaged_gguf(self.package)],
                                  extra_layers=packaged_layers(store, self.package))


def source_for(text: str, *, insecure: bool = False) -> Source:
    """The source `text` names; an InvalidName or PullError that says what to type instead.

    `insecure` lets a registry be reached over plain http (as `ollama pull --insecure`).
    """
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
    return RegistrySource(name, insecure)


def pull(store: ModelStore, text: str, cancel: threading.Event, rule: ApiRule | None = None, *,
         insecure: bool = False) -> Iterator[PullProgress]:
    """Stream the progress of pulling `text` into `store`, as it happens; `rule`: a client of the API asked."""
    source = source_for(text, insecure=insecure)
    if rule is not None:
        source = _under(rule, source, text)
    with store.writing():  # no collection deletes a fetched blob before its manifest is written
        yield from source.pull(store, cancel)


def _under(rule: ApiRule, source: Source, text: str) -> Source:
    if isinstance(source, FileSource):
        raise PullError(f'cannot pull "{text}": over the API, a pull names a model, hf.co/… or an https URL, '
                        'never a file on the server — run "ember pull PATH" on the machine that holds the file')
    if isinstance(source, UrlSource):
        rule.check(source.url)
        return UrlSource(source.url, rule)
    return source
