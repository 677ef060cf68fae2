"""What one request may ask of this machine: checked before llama.cpp is asked for it.

A context larger than the model was trained for is cut to that size (as Ollama does); one whose
KV cache cannot fit in the memory left is a clear error, never an out-of-memory kill. Text that
is not valid Unicode, token ids the model does not have and keep-alive times past any clock are
refused with what to send instead.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import replace

from ember.backend.cachetypes import F16
from ember.backend.errors import InvalidRequest
from ember.backend.parameters import Options
from ember.backend.store.modelrecord import ModelRecord

# What one image may be: a file within the request body's limit, pixels a projector resizes anyway
MAX_IMAGE_BYTES = 20 * 2**20
MAX_IMAGE_PIXELS = 40_000_000  # 8K by 5K; the decoded RGB is three bytes each
MAX_IMAGES = 16  # in one request, every message together


def check_image(index: int, size: int, width: int = 0, height: int = 0) -> None:
    """Refuse an image file too large to read, or with more pixels than a request may decode."""
    if size > MAX_IMAGE_BYTES:
        raise InvalidRequest(f"image {index + 1} is {_size(size)}; an image may be at most {_size(MAX_IMAGE_BYTES)}")
    if width * height > MAX_IMAGE_PIXELS:
        raise InvalidRequest(f"image {index + 1} is {width}×{height} pixels; an image may have at most "
                             f"{MAX_IMAGE_PIXELS // 1_000_000} million: scale it down")


def check_image_count(count: int) -> None:
    if count > MAX_IMAGES:
        raise InvalidRequest(f"the request has {count} images; at most {MAX_IMAGES} may be sent at once")


# threading.Timer and datetime both overflow past this many seconds; longer is "forever" anyway
LONGEST_KEEP_ALIVE = min(threading.TIMEOUT_MAX, 100 * 365 * 86400.0)


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def gpu_free_bytes() -> int:
    """Free memory on the GPUs llama.cpp can use (0 for a CPU build)."""
    try:
        from ember.backend.engine.devices import detect_devices, gpu_offload_supported

        if not gpu_offload_supported():
            return 0
        return sum(d.free for d in detect_devices() if d.is_gpu)
    except Exception:  # no device query on this build: count the CPU's memory alone
        return 0


def fit_context(options: Options, record: ModelRecord, parallel: int, loaded_ctx: int = 0,
                value_bytes: float = F16.value_bytes) -> Options:
    """`options` with num_ctx cut to the model's trained length; an error when its cache cannot fit.

    `loaded_ctx` is the num_ctx the model is loaded with now (0: not loaded): that memory is
    given back before a context of another size is made.
    """
    trained = record.meta.context_length
    if trained and options.num_ctx > trained:
        options = replace(options, num_ctx=trained)
    if options.num_ctx == loaded_ctx:
        return options
    from ember.backend.engine.memory import available_bytes, kv_cache_bytes

    kv, arch = record.meta.kv, record.meta.architecture
    need = kv_cache_bytes(kv, arch, options.num_ctx * parallel, value_bytes)
    if not need:
        return options
    have = available_bytes() + kv_cache_bytes(kv, arch, loaded_ctx * parallel, value_bytes) + gpu_free_bytes()
    if need > have:
        raise InvalidRequest(
            f"num_ctx {options.num_ctx} needs {_size(need)} of memory for the context of {record.name} "
            f"({parallel} parallel sequences) and {_size(have)} is free — lower num_ctx or EMBER_NUM_PARALLEL"
            + ("" if value_bytes < F16.value_bytes else ", or set EMBER_KV_CACHE_TYPE to q8_0"))
    return options


def keep_alive_seconds(seconds: float) -> float:
    """A parsed keep-alive, refused when it is not a number and made "forever" past any clock."""
    if math.isnan(seconds):
        raise InvalidRequest('keep_alive is not a number; use e.g. "5m", "1h", 300, 0 or -1 (forever)')
    return -1.0 if seconds > LONGEST_KEEP_ALIVE else seconds


def check_text(texts: Iterable[str], what: str = "the request") -> None:
    """Refuse text that cannot be encoded as UTF-8 (a lone surrogate such as \\ud800)."""
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = text[exc.start]
            raise InvalidRequest(f"{what} holds text that is not valid Unicode (a lone surrogate, "
                                 f"\\u{ord(bad):04x}, at character {exc.start}): send well-formed UTF-8") from None


def check_tokens(tokens: Iterable[int], vocabulary: int) -> None:
    """Refuse a `context` holding token ids the model does not have."""
    for token in tokens:
        if not 0 <= token < vocabulary:
            raise InvalidRequest(f"context holds the token id {token}, but the model's ids run from 0 to "
                                 f"{vocabulary - 1}: send back the context a response of this model gave")


def check_capabilities(record: ModelRecord, *, think: bool | str | None = None, images: bool = False,
                       suffix: bool = False) -> None:
    """Refuse what the model cannot do (Ollama's 400 "does not support"), once it is known to exist."""
    capabilities = record.capabilities
    name = record.name.display()
    if think and "thinking" not in capabilities:
        raise InvalidRequest(f'"{name}" does not support thinking')
    if images and "vision" not in capabilities:
        raise InvalidRequest(f'"{name}" does not support vision')
    if suffix and "insert" not in capabilities:
        raise InvalidRequest(f'"{name}" does not support insert: its template has no place for a suffix')


def check_fits(tokens: list[int], options: Options, num_ctx: int) -> None:
    """With truncate off, refuse a prompt that would be cut to leave room for the answer."""
    from ember.backend.engine.slots import fit

    if len(fit(tokens, options, num_ctx)) < len(tokens):
        raise InvalidRequest(f"the prompt is {len(tokens)} tokens, more than the context of {num_ctx} holds "
                             "with room to answer: shorten it, raise num_ctx, or leave truncate on")
