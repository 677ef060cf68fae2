"""Pull a GGUF from an https URL: staged and resumable like a Hub download, registered when complete."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from urllib.parse import unquote, urlsplit

from ember.backend import __version__
from ember.backend.errors import DiskFull, PullError
from ember.backend.pull.download import check_space, fetch, staged_size, staging_lock
from ember.backend.pull.quant import name_for_file
from ember.backend.pull.register import register_steps
from ember.backend.store.ggufmeta import is_gguf
from ember.backend.store.modelstore import ModelStore
from ember.backend.types import PullProgress


def is_url(text: str) -> bool:
    return text.startswith(("https://", "http://"))


def pull(store: ModelStore, url: str, cancel: threading.Event,
         allowed: Callable[[str], None] | None = None) -> Iterator[PullProgress]:
    """Fetch a .gguf from `url`; `allowed` (the API's rule) checks it and every redirect, and turns
    every failure to fetch into its one refusal."""
    from ember.backend.pull.hf import is_offline, offline

    filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if not filename.lower().endswith(".gguf"):
        raise PullError(f"{url} is not a .gguf file — ember pulls GGUF files (https://…/model.gguf), "
                        "hf.co/{user}/{repo}, or a local path")
    if is_offline():
        raise offline(store, f"HF_HUB_OFFLINE is set, so ember cannot fetch {urlsplit(url).netloc}")
    if allowed is None:
        yield from _fetch(store, url, filename, cancel, None)
        return
    try:
        yield from _fetch(store, url, filename, cancel, allowed)
    except (PullError, OSError) as exc:
        if isinstance(exc, DiskFull):
            raise
        from ember.backend.pull.urlrule import refusal

        raise refusal(url) from None


def _fetch(store: ModelStore, url: str, filename: str, cancel: threading.Event,
           allowed: Callable[[str], None] | None) -> Iterator[PullProgress]:
    import httpx2
    from huggingface_hub.errors import OfflineModeIsEnabled
    from huggingface_hub.utils import build_hf_headers, get_session

    name = name_for_file(filename)
    key = "sha256:" + hashlib.sha256(url.encode()).hexdigest()  # the staging name; the content is hashed later
    tmp = store.temp_path(key)
    yield PullProgress("pulling manifest")
    headers = build_hf_headers(library_name="ember", library_version=__version__, token=False)
    try:
        head = get_session().head(url, headers=headers, follow_redirects=allowed is None, timeout=10)
        for _ in range(10 if allowed is not None else 0):  # each hop is held to the rule
            if not head.is_redirect:
                break
            target = str(head.url.join(head.headers.get("location", "")))
            allowed(target)  # type: ignore[misc]
            head = get_session().head(target, headers=headers, follow_redirects=False, timeout=10)
    except OfflineModeIsEnabled:
        from ember.backend.pull.hf import offline

        raise offline(store, f"HF_HUB_OFFLINE is set, so ember cannot fetch {urlsplit(url).netloc}") from None
    except (httpx2.ConnectError, httpx2.TimeoutException) as exc:
        from ember.backend.pull.hf import offline

        raise offline(store, f"cannot reach {urlsplit(url).netloc} ({exc})") from None
    if head.status_code >= 400 or head.is_redirect:
        raise PullError(f"{url} answered {head.status_code}; check the link")
    size = int(head.headers["Content-Length"]) if head.headers.get("Content-Length", "").isdigit() else None
    check_space(store, (size or 0) - staged_size(tmp))
    with staging_lock(tmp):
        yield from fetch(store, tmp, str(head.url), headers=headers, size=size, status=f"pulling {filename}",
                         digest="", cancel=cancel, follow_redirects=allowed is None)
        if not is_gguf(tmp):
            tmp.unlink(missing_ok=True)
            raise PullError(f"{url} did not send a GGUF file (it does not start with 'GGUF'); check the link")
        yield PullProgress(f"registering {filename} as {name.display()}")
        yield from register_steps(store, name, [tmp], link=True)
        tmp.unlink(missing_ok=True)
