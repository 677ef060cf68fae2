"""The types a context may keep its keys and values in (Ollama's OLLAMA_KV_CACHE_TYPE): f16, or 8- and
4-bit blocks that take about a half and a quarter of its memory, so a longer context fits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ember.backend.errors import EmberError


@dataclass(frozen=True)
class CacheType:
    name: str
    value_bytes: float  # one cached value, its block's scale included
    quantized: bool


CACHE_TYPES = {kind.name: kind for kind in (
    CacheType("f16", 2.0, False),
    CacheType("q8_0", 34 / 32, True),  # blocks of 32 int8 values and an f16 scale
    CacheType("q4_0", 18 / 32, True),  # blocks of 32 4-bit values and an f16 scale
)}
F16 = CACHE_TYPES["f16"]


def cache_type(name: str) -> CacheType:
    return CACHE_TYPES.get(name, F16)


def cache_type_setting(value: Any, where: str) -> str:
    """A cache type's name, as config.toml or EMBER_KV_CACHE_TYPE gives it."""
    name = str(value).strip().lower()
    if name not in CACHE_TYPES:
        raise EmberError(f"{where}: kv_cache_type expects {', '.join(CACHE_TYPES)}, got {value!r}")
    return name
