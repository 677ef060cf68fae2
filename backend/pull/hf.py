"""Pull `hf.co/{user}/{repo}[:{quant}]` from the Hugging Face Hub, as Ollama does.

The Hub's model info lists the repository's files with the sha256 Git LFS keeps for each; the tag
picks the GGUF whose quantisation it names (case-insensitive, Q4_K_M by default). Every file is
fetched resumably, checked against the Hub's sha256, and the manifest is written last.
HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE and proxies are honoured through huggingface-hub.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ember.backend import __version__
from ember.backend.errors import Offline, PullError
from ember.backend.pull.download import check_space, fetch, staged_size, staging_lock, verify
from ember.backend.pull.quant import DEFAULT_QUANT, parse_gguf_name, split_siblings
from ember.backend.pull.register import write_model
from ember.backend.store.modelstore import MEDIA_MODEL, MEDIA_PROJECTOR, Layer, ModelStore
from ember.backend.store.names import DEFAULT_TAG, ModelName
from ember.backend.types import PullProgress

HOSTS = ("hf.co", "huggingface.co")


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    sha256: str

    @property
    def digest(self) -> str:
        return f"sha256:{self.sha256}"


@dataclass(frozen=True)
class HubModel:
    repo: str
    commit: str
    quant: str
    files: tuple[HubFile, ...]  # one, or the parts of a split GGUF in order
    projector: HubFile | None = None  # the vision projector (mmproj) beside the weights, if the repo has one


def endpoint() -> str:
    """HF_ENDPOINT as it is now (huggingface-hub reads it once, at import)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def cache_dir() -> Path:
    """huggingface-hub's cache folder as the environment says now (HF_HUB_CACHE, else HF_HOME/hub)."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def resolve(repo: str, tag: str, *, hub: str, store: ModelStore) -> HubModel:
    """Ask the Hub which files make up `repo` at `tag`; every mistake is one actionable PullError."""
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    if is_offline():
        raise offline(store, f"HF_HUB_OFFLINE is set, so ember cannot fetch hf.co/{repo}")
    try:
        info = HfApi(endpoint=hub, library_name="ember", library_version=__version__).model_info(
            repo, files_metadata=True)
    except GatedRepoError:
        raise PullError(f"hf.co/{repo} is gated: accept its terms at {hub}/{repo}, then set HF_TOKEN "
                        "(or run \"hf auth login\") and pull again") from None
    except RepositoryNotFoundError:
        raise PullError(f"no model hf.co/{repo} on Hugging Face ({hub}) — check the name; a private repo "
                        "needs a token: set HF_TOKEN or run \"hf auth login\"") from None
    except (httpx2.ConnectError, httpx2.TimeoutException, OfflineModeIsEnabled) as exc:
        raise offline(store, f"cannot reach Hugging Face at {hub} ({_reason(exc)})") from None
    except HfHubHTTPError as exc:
        code = exc.response.status_code if exc.response is not None else "an error"
        raise PullError(f"Hugging Face answered {code} for hf.co/{repo}; try again later") from None
    files = {s.rfilename: s for s in info.siblings or []}
    groups: dict[str, list[str]] = {}
    for path in sorted(files):
        parsed = parse_gguf_name(path)
        if not path.lower().endswith(".gguf") or parsed.is_projector or parsed.part != 1:
            continue
        parts = split_siblings(parsed) if parsed.parts > 1 else [path]
        if all(p in files for p in parts):
            groups.setdefault(parsed.quant or parsed.stem.upper(), parts)
    if not groups:
        raise PullError(f"hf.co/{repo} has no GGUF files — ember runs GGUF models; look for a "
                        f"\"-GGUF\" repository of this model")
    quant = _pick(repo, tag, groups)
    chosen = []
    for path in groups[quant]:
        sibling = files[path]
        if sibling.lfs is None:
            raise PullError(f"{path} in hf.co/{repo} is not stored with Git LFS, so the Hub publishes no "
                            "sha256 to check it against; download it and pull the local file instead")
        chosen.append(HubFile(path, int(sibling.lfs.size), str(sibling.lfs.sha256)))
    return HubModel(repo, str(info.sha), quant, tuple(chosen), _projector(files, chosen[0].path))


PROJECTOR_PREFERENCE = ("F16", "BF16", "F32", "Q8_0")  # full precision first, as llama.cpp's -hf picks


def _projector(files: dict[str, Any], model_path: str) -> HubFile | None:
    """The repo's mmproj*.gguf in the weights' folder (LFS files only: they carry a sha256)."""
    folder = model_path.rpartition("/")[0]
    found = {}
    for path, sibling in sorted(files.items()):
        parsed = parse_gguf_name(path)
        if path.lower().endswith(".gguf") and parsed.is_projector and path.rpartition("/")[0] == folder \
                and sibling.lfs is not None:
            found[path] = HubFile(path, int(sibling.lfs.size), str(sibling.lfs.sha256))
    if not found:
        return None
    ranked = sorted(found, key=lambda p: next((i for i, q in enumerate(PROJECTOR_PREFERENCE)
                                               if q.lower() in p.lower().replace("-", "_")), len(PROJECTOR_PREFERENCE)))
    return found[ranked[0]]


def _pick(repo: str, tag: str, groups: dict[str, list[str]]) -> str:
    wanted = DEFAULT_QUANT if tag.lower() == DEFAULT_TAG else tag.upper()
    if wanted in groups:
        return wanted
    if tag.lower() == DEFAULT_TAG and len(groups) == 1:
        return next(iter(groups))
    have = ", ".join(groups)
    example = next(iter(groups))
    raise PullError(f"hf.co/{repo} has no {wanted} GGUF; it has {have} — "
                    f"pull one of them, e.g. \"ember pull hf.co/{repo}:{example}\"")


def offline(store: ModelStore, why: str) -> Offline:
    here = ", ".join(m.name.display() for m in store.list()) or "none yet"
    return Offline(f"{why}: you appear to be offline. Models already here: {here}")


def pull(store: ModelStore, name: ModelName, cancel: threading.Event) -> Iterator[PullProgress]:
    from huggingface_hub import try_to_load_from_cache

    hub = endpoint()
    repo = f"{name.namespace}/{name.model}"
    yield PullProgress("pulling manifest")
    model = resolve(repo, name.tag, hub=hub, store=store)
    wanted = model.files + ((model.projector,) if model.projector else ())
    missing = [f for f in wanted if not store.has_blob(f.digest)]
    check_space(store, sum(f.size - staged_size(store.temp_path(f.digest)) for f in missing))
    weights: list[Layer] = []
    extra: list[Layer] = []
    for part in wanted:
        status = f"pulling {part.sha256[:12]}"
        kind = MEDIA_PROJECTOR if part is model.projector else MEDIA_MODEL
        cached = None if store.has_blob(part.digest) else try_to_load_from_cache(
            repo, part.path, cache_dir=cache_dir(), revision=model.commit)
        if isinstance(cached, str):
            store.add_file(Path(cached), kind, digest=part.digest)  # hard-linked from HF's cache
        if store.has_blob(part.digest):
            yield PullProgress(status, part.digest, part.size, part.size)
        else:
            yield from _download(store, model, part, hub, status, cancel)
        (extra if kind == MEDIA_PROJECTOR else weights).append(Layer(kind, part.digest, part.size))
    yield from write_model(store, name, weights, tuple(extra))


def _download(store: ModelStore, model: HubModel, part: HubFile, hub: str, status: str,
              cancel: threading.Event) -> Iterator[PullProgress]:
    import httpx2
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(model.repo, part.path, revision=model.commit, endpoint=hub)
    try:
        meta = get_hf_file_metadata(url, endpoint=hub, library_name="ember", library_version=__version__)
    except (httpx2.ConnectError, httpx2.TimeoutException) as exc:
        raise offline(store, f"cannot reach Hugging Face at {hub} ({_reason(exc)})") from None
    except HfHubHTTPError as exc:
        raise PullError(f"Hugging Face refused {part.path} of hf.co/{model.repo} ({_reason(exc)}); "
                        "set HF_TOKEN if the repo is private or gated") from None
    headers = build_hf_headers(library_name="ember", library_version=__version__)
    if urlsplit(meta.location)[:2] != urlsplit(url)[:2]:
        headers.pop("authorization", None)  # a signed CDN link: the token stays with the Hub
    tmp = store.temp_path(part.digest)
    with staging_lock(tmp):
        if not store.has_blob(part.digest):
            yield from fetch(store, tmp, meta.location, headers=headers, size=part.size, status=status,
                             digest=part.digest, cancel=cancel)
            yield from verify(store, tmp, part.digest)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
