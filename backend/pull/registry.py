"""Pull `[host/][namespace/]model[:tag]` from Ollama's registry (registry.ollama.ai), as Ollama's client does.

The manifest (`GET /v2/{namespace}/{model}/manifests/{tag}`, Docker manifest v2 with Ollama's media
types) names every layer by digest: the GGUF weights, and the template, params, system, licence,
messages, adapter and projector layers beside them. Each is fetched from `/v2/…/blobs/{digest}`
(which redirects to the blob host), resumably, and checked against its digest; the manifest is
written last, so an interrupted pull never shows as a model. https unless `insecure`.

A registry that answers 401 with a Docker `WWW-Authenticate: Bearer realm=…` challenge gets the
anonymous token flow of the Docker registry protocol; the token goes to the registry only, never to
the blob host its redirects lead to.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from ember.backend import __version__
from ember.backend.errors import EmberError, NotInRegistry, PullError
from ember.backend.pull.download import check_space, fetch, staged_size, staging_lock, verify
from ember.backend.pull.hf import is_offline, offline
from ember.backend.pull.register import write_model
from ember.backend.store.modelstore import MANIFEST_MEDIA_TYPE, MEDIA_MODEL, MEDIA_PARAMS, Layer, ModelStore
from ember.backend.store.names import DEFAULT_HOST, DEFAULT_TAG, ModelName
from ember.backend.types import PullProgress

_TIMEOUT = 30  # seconds to wait for the manifest
_MANIFEST_LIMIT = 1 << 20  # a manifest names a handful of layers; anything this large is not one
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Registry:
    """Where one model's manifest and blobs are, on its registry, and the token it asked for."""

    name: ModelName
    insecure: bool = False
    token: str = ""

    @property
    def base(self) -> str:
        scheme = "http" if self.insecure else "https"
        return f"{scheme}://{self.name.host}/v2/{self.name.namespace}/{self.name.model}"

    def manifest_url(self, tag: str) -> str:
        return f"{self.base}/manifests/{tag}"

    def blob_url(self, digest: str) -> str:
        return f"{self.base}/blobs/{digest}"

    @property
    def headers(self) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {"User-Agent": f"ember/{__version__}", **auth}

    def tags_page(self) -> str:
        """Where a person sees the model's tags (ollama.com, for Ollama's own registry)."""
        if self.name.host != DEFAULT_HOST:
            return ""
        path = f"{self.name.namespace}/{self.name.model}"
        return f" — see https://ollama.com/{path}/tags"


def fetch_manifest(store: ModelStore, registry: Registry) -> tuple[Layer, ...]:
    """The layers `registry.name` is made of; every way this fails is one PullError saying what to do."""
    name = registry.name
    if is_offline():
        raise offline(store, f"HF_HUB_OFFLINE is set, so ember cannot fetch {name.display()} from {name.host}")
    response = _get_manifest(store, registry, name.tag)
    if response.status_code == 401 and not registry.token and _sign_in(store, registry, response):
        response = _get_manifest(store, registry, name.tag)
    if response.status_code == 404:
        model = name.display().rsplit(":", 1)[0] if name.host == DEFAULT_HOST else f"{name.namespace}/{name.model}"
        if name.tag != DEFAULT_TAG and _get_manifest(store, registry, DEFAULT_TAG).status_code == 200:
            raise NotInRegistry(f'cannot pull {name.display()}: {name.host} has no tag "{name.tag}" of {model}'
                                f"{registry.tags_page()}")
        hint = " (ollama.com/search lists Ollama's library)" if name.host == DEFAULT_HOST else ""
        raise NotInRegistry(f'cannot pull {name.display()}: {name.host} has no model "{model}" — check the '
                            f"name{hint}")
    if response.status_code in (401, 403):
        raise PullError(f"{name.host} refused {name.display()} ({response.status_code}): ember pulls public "
                        "models, and this one needs a sign-in")
    if response.status_code >= 400:
        raise PullError(f"{name.host} answered {response.status_code} for {name.display()}; try again later")
    try:
        if len(response.content) > _MANIFEST_LIMIT:
            raise ValueError(f"{len(response.content)} bytes")
        data = json.loads(response.content)
        layers = tuple(dict.fromkeys(Layer.from_json(layer) for layer in data["layers"]))
        if any(layer.size < 0 for layer in layers):
            raise ValueError("a layer has a negative size")
    except (ValueError, KeyError, TypeError, EmberError) as exc:
        raise PullError(f"{name.host} sent no model manifest for {name.display()} ({exc}); is it an "
                        "Ollama registry?") from None
    if not any(layer.media_type == MEDIA_MODEL for layer in layers):
        raise PullError(f"{name.display()} on {name.host} holds no GGUF weights (no model layer); "
                        "ember runs GGUF models")
    return layers


def _sign_in(store: ModelStore, registry: Registry, challenge) -> bool:
    """Ask the realm a 401 names for an anonymous pull token (the Docker registry's token flow)."""
    header = challenge.headers.get("WWW-Authenticate", "")
    if not header.lower().startswith("bearer "):
        return False
    params = dict(_CHALLENGE.findall(header))
    realm = params.pop("realm", "")
    if urlsplit(realm).scheme not in (("http", "https") if registry.insecure else ("https",)):
        return False
    answer = _get(store, registry, realm, params={k: v for k, v in params.items() if k in ("service", "scope")})
    try:
        body = answer.json() if answer.status_code == 200 else {}
        registry.token = str(body.get("token") or body.get("access_token") or "")
    except ValueError:
        return False
    return bool(registry.token)


def _get_manifest(store: ModelStore, registry: Registry, tag: str):
    return _get(store, registry, registry.manifest_url(tag), headers={"Accept": MANIFEST_MEDIA_TYPE})


def _get(store: ModelStore, registry: Registry, url: str, *, headers: dict[str, str] | None = None,
         params: dict[str, str] | None = None):
    import httpx2
    from huggingface_hub.errors import OfflineModeIsEnabled
    from huggingface_hub.utils import get_session

    host = registry.name.host
    try:
        return get_session().get(url, timeout=_TIMEOUT, follow_redirects=True, params=params,
                                 headers={**registry.headers, **(headers or {})})
    except OfflineModeIsEnabled:
        raise offline(store, f"HF_HUB_OFFLINE is set, so ember cannot fetch {registry.name.display()}") from None
    except (httpx2.ConnectError, httpx2.TimeoutException) as exc:
        reason = _first_line(exc)
        if not registry.insecure and ("SSL" in reason or "TLS" in reason):
            raise PullError(f"{host} does not answer over https ({reason}); if it is a registry you trust "
                            "on plain http, pull with --insecure") from None
        raise offline(store, f"cannot pull {registry.name.display()}: {host} cannot be reached ({reason})") from None
    except httpx2.HTTPError as exc:
        raise PullError(f"asking {host} for {registry.name.display()} failed "
                        f"({_first_line(exc)}); pull again") from None


def pull(store: ModelStore, name: ModelName, cancel: threading.Event, *,
         insecure: bool = False) -> Iterator[PullProgress]:
    """Stream Ollama's progress for pulling `name`: the manifest, each layer, verifying, writing the manifest."""
    registry = Registry(name, insecure)
    yield PullProgress("pulling manifest")
    layers = fetch_manifest(store, registry)
    missing = {layer.digest: layer for layer in layers if not store.has_blob(layer.digest)}
    check_space(store, sum(layer.size - staged_size(store.temp_path(layer.digest)) for layer in missing.values()))
    for layer in layers:
        status = f"pulling {layer.digest.removeprefix('sha256:')[:12]}"
        tmp = store.temp_path(layer.digest)
        with staging_lock(tmp):
            if store.has_blob(layer.digest):
                yield PullProgress(status, layer.digest, layer.size, layer.size)
                continue
            yield from fetch(store, tmp, registry.blob_url(layer.digest), headers=registry.headers,
                             size=layer.size, status=status, digest=layer.digest, cancel=cancel)
            yield from verify(store, tmp, layer.digest)
    layers = yield from _usable_parameters(store, layers)
    weights = [layer for layer in layers if layer.media_type == MEDIA_MODEL]
    rest = tuple(layer for layer in layers if layer.media_type != MEDIA_MODEL)
    yield from write_model(store, name, weights, rest)


def _usable_parameters(store: ModelStore, layers: tuple[Layer, ...]
                       ) -> Generator[PullProgress, None, tuple[Layer, ...]]:
    """The layers, with a params layer holding options ember does not have (Ollama's retired `num_gqa`,
    `use_mmap`, …) replaced by one without them, so every request to the model does not fail on them."""
    from ember.backend.parameters import coerce

    kept: list[Layer] = []
    for layer in layers:
        if layer.media_type == MEDIA_PARAMS:
            try:
                params = json.loads(store.read_blob(layer.digest))
            except ValueError:
                params = None
            if not isinstance(params, dict):
                raise PullError(f"the parameters layer {layer.digest} is not a JSON object; the model is "
                                "damaged at its source")
            usable: dict[str, object] = {}
            for key, value in params.items():
                try:
                    coerce(key, value)
                    usable[key] = value
                except EmberError:
                    continue
            if len(usable) < len(params):
                dropped = ", ".join(k for k in params if k not in usable)
                yield PullProgress(f"ignoring parameters ember does not take: {dropped}")
                layer = store.write_bytes(json.dumps(usable).encode(), MEDIA_PARAMS)
        kept.append(layer)
    return tuple(kept)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
