"""Files a client uploads (Ollama's /api/blobs): written beside the blobs, hashed as they arrive, and
moved into place only when their sha256 is the digest the client named."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from typing import BinaryIO

from ember.backend.asyncbridge import run_blocking
from ember.backend.errors import EmberError, InvalidRequest
from ember.backend.store.collect import note_upload
from ember.backend.store.modelstore import ModelStore
from ember.backend.store.names import parse_digest


async def receive_blob(store: ModelStore, digest: str, data: AsyncIterator[bytes]) -> None:
    wanted = parse_digest(digest)
    tmp = store.scratch_path()
    hasher = hashlib.sha256()
    try:
        with open(tmp, "wb") as fh:
            async for piece in data:
                await run_blocking(_write, fh, hasher, piece)
            await run_blocking(_sync, fh)
        actual = hasher.hexdigest()
        if actual != wanted:
            raise InvalidRequest(f"the uploaded file's sha256 is {actual}, not {wanted}: send the digest of "
                                 "the file you upload")
        with store.writing():
            store.commit_temp(tmp, digest, actual=actual)
            note_upload(store, actual)
    except OSError as exc:
        raise EmberError(f"could not store the upload in {store.blobs}: {exc.strerror}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _write(fh: BinaryIO, hasher: hashlib._Hash, piece: bytes) -> None:
    hasher.update(piece)
    fh.write(piece)


def _sync(fh: BinaryIO) -> None:
    fh.flush()
    os.fsync(fh.fileno())
