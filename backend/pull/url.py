"""Pull a GGUF from an https URL: staged and resumable like a Hub download, registered when complete."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from ember.backend import __version__
from ember.backend.errors import PullError
from ember.backend.pull.download import check_space, fetch, staged_size, staging_lock
from ember.backend.pull.quant import name_for_file
from ember.backend.pull.register import register_steps
from ember.backend.store.ggufmeta import is_gguf
from ember.backend.store.modelstore import ModelStore
from ember.backend.types import PullProgress


def is_url(text: str) -> bool:
    return text.startswith(("https://", "http://"))


def pull(store: ModelStore, url: str, cancel: threading.Event) -> Iterator[PullProgress]:
    import httpx2
    from huggingface_hub.utils import build_hf_headers, get_session

    filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if not filename.lower().endswith(".gguf"):
        raise PullError(f"{url} is not a .gguf file — ember pulls GGUF files (https://…/model.gguf), "
                        "hf.co/{user}/{repo}, or a local path")
    name = name_for_file(filename)
    key = "sha256:" + hashlib.sha256(url.encode()).hexdigest()  # the staging name; the content is hashed later
    tmp = store.temp_path(key)
    yield PullProgress("pulling manifest")
    headers = build_hf_headers(library_name="ember", library_version=__version__, token=False)
    try:
        head = get_session().head(url, headers=headers, follow_redirects=True, timeout=10)
    except (httpx2.ConnectError, httpx2.TimeoutException) as exc:
        from ember.backend.pull.hf import offline

        raise offline(store, f"cannot reach {urlsplit(url).netloc} ({exc})") from None
    if head.status_code >= 400:
        raise PullError(f"{url} answered {head.status_code}; check the link")
    size = int(head.headers["Content-Length"]) if head.headers.get("Content-Length", "").isdigit() else None
    check_space(store, (size or 0) - staged_size(tmp))
    with staging_lock(tmp):
        yield from fetch(store, tmp, str(head.url), headers=headers, size=size, status=f"pulling {filename}",
                         digest="", cancel=cancel)
        if not is_gguf(tmp):
            tmp.unlink(missing_ok=True)
            raise PullError(f"{url} did not send a GGUF file (it does not start with 'GGUF'); check the link")
        yield PullProgress(f"registering {filename} as {name.display()}")
        yield from register_steps(store, name, [tmp], link=True)
        tmp.unlink(missing_ok=True)
