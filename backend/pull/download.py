"""Resumable downloads into the store's staging area, through huggingface-hub's HTTP session.

A download is staged in `blobs/.partial-sha256-<hex>` and kept when it is interrupted (a cut
connection, a full disk, a killed process), so pulling again continues where it stopped with an
HTTP Range request. huggingface-hub's session brings HF_TOKEN, proxies, retries and its errors.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ember.backend.digests import hash_steps
from ember.backend.errors import Cancelled, DiskFull, PullError
from ember.backend.store.modelstore import ModelStore
from ember.backend.types import PullProgress

RETRIES = 5
SPACE_MARGIN = 64 << 20  # leave room for manifests, configs and the rest of the system
_EVERY = 0.1  # seconds between progress events
_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def staged_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def check_space(store: ModelStore, needed: int) -> None:
    """Refuse a download that cannot fit, before a byte of it is fetched."""
    store.blobs.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(store.blobs).free
    needed = max(needed, 0)
    if needed + SPACE_MARGIN > free:
        need = f"this pull needs {_size(needed)} more and " if needed else ""
        raise DiskFull(f"not enough disk space in {store.blobs}: {need}ember keeps {_size(SPACE_MARGIN)} free "
                       f"beside the models, and {_size(free)} is free — free some space (ember rm …, "
                       "ember rm --partials) or move the store with EMBER_MODELS, then pull again")


def disk_full(store: ModelStore, exc: OSError) -> DiskFull:
    return DiskFull(f"the disk holding {store.blobs} is full ({exc.strerror}) — free some space "
                    "and pull again: the download resumes where it stopped")


def fetch(store: ModelStore, tmp: Path, url: str, *, headers: dict[str, str], size: int | None,
          status: str, digest: str, cancel: threading.Event,
          follow_redirects: bool = True) -> Iterator[PullProgress]:
    """Append what is missing of `url` to `tmp`, yielding progress; returns when `size` bytes are there."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.utils import hf_raise_for_status, http_stream_backoff

    failures = 0
    total = size or 0
    while True:
        have = staged_size(tmp)
        if size is not None and have > size:
            tmp.unlink()
            have = 0
        if size is not None and have == size:
            return
        wanted = dict(headers)
        if have:
            wanted["Range"] = f"bytes={have}-"
        try:
            # retries are this loop's: the session's own cannot resume a body that broke off
            with http_stream_backoff("GET", url, headers=wanted, timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT,
                                     retry_on_exceptions=(), retry_on_status_codes=(408, 429),
                                     follow_redirects=follow_redirects) as response:
                hf_raise_for_status(response)
                if have and response.status_code != 206:
                    have = 0  # the server ignored the Range header: start over
                if not total:
                    total = have + int(response.headers.get("Content-Length") or 0)
                yield PullProgress(status, digest, total, have)
                last = time.monotonic()
                with open(tmp, "ab" if have else "wb") as fh:
                    for chunk in response.iter_bytes():
                        if cancel.is_set():
                            raise Cancelled("pull cancelled; pull again to resume it")
                        fh.write(chunk)
                        have += len(chunk)
                        failures = 0
                        if time.monotonic() - last >= _EVERY:
                            last = time.monotonic()
                            yield PullProgress(status, digest, total, have)
                    fh.flush()
                    os.fsync(fh.fileno())
            yield PullProgress(status, digest, total, have)
            if size is None:
                return
            if have < size:
                raise httpx2.RemoteProtocolError(f"the server sent {have} of {size} bytes")
        except (httpx2.TransportError, HfHubHTTPError) as exc:
            status_code = getattr(getattr(exc, "response", None), "status_code", 0) or 0
            failures += 1
            if failures > RETRIES or 400 <= status_code < 500:
                raise PullError(f"downloading {url} failed ({_first_line(exc)}); check the connection and "
                                "pull again — it resumes where it stopped") from exc
            time.sleep(min(0.5 * 2**failures, 8))
        except OSError as exc:
            if exc.errno in _FULL:
                raise disk_full(store, exc) from exc
            raise


@contextmanager
def staging_lock(tmp: Path) -> Iterator[None]:
    """One download per staged file at a time: another pull of it waits here, then finds it done."""
    from filelock import FileLock

    lock = tmp.with_name(tmp.name + ".lock")
    try:
        with FileLock(lock):
            yield
    finally:
        lock.unlink(missing_ok=True)


def verify(store: ModelStore, tmp: Path, digest: str) -> Iterator[PullProgress]:
    """Hash a finished download, yielding progress, and move it into the store if it matches."""
    steps = hash_steps(tmp)
    while True:
        try:
            done, total = next(steps)
        except StopIteration as end:
            actual = end.value
            break
        yield PullProgress("verifying sha256 digest", digest, total, done)
    store.commit_temp(tmp, digest, actual=actual)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n:.1f} TB"
