"""How much memory a model will take, how much the machine has free, and how much this process uses."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

from ember.backend.cachetypes import F16


def kv_cache_bytes(meta_kv: dict[str, object], architecture: str, cells: int,
                   value_bytes: float = F16.value_bytes) -> int:
    """Bytes of K and V for `cells` tokens, from a GGUF's metadata (0 when it does not say), each value
    taking `value_bytes` (the cache type's)."""
    def number(key: str, default: int = 0) -> int:
        value = meta_kv.get(f"{architecture}.{key}", default)
        return int(value) if isinstance(value, (int, float)) else default

    layers = number("block_count")
    heads = number("attention.head_count")
    kv_heads = number("attention.head_count_kv", heads)
    embd = number("embedding_length")
    if not (layers and heads and embd):
        return 0
    head_k = number("attention.key_length", embd // heads)
    head_v = number("attention.value_length", embd // heads)
    return round(cells * layers * kv_heads * (head_k + head_v) * value_bytes)


def estimate_bytes(model: Path, adapters: tuple[Path, ...], num_ctx: int, parallel: int,
                   value_bytes: float = F16.value_bytes) -> int:
    """What loading `model` with `parallel` sequences of `num_ctx` tokens will need."""
    from ember.backend.store.ggufmeta import read_gguf_metadata

    weights = model.stat().st_size + sum(p.stat().st_size for p in adapters)
    try:
        kv = read_gguf_metadata(model)
    except Exception:  # an unreadable header fails properly at load time
        return weights
    return weights + kv_cache_bytes(kv, str(kv.get("general.architecture", "")), num_ctx * parallel, value_bytes)


def available_bytes() -> int:
    """Memory the machine can give without swapping (Linux MemAvailable; elsewhere free pages)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: never evict for memory


def rss_bytes() -> int:
    """This process's resident memory now (Linux), or its peak elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
