"""Accelerators: the devices llama.cpp can place tensors on, asked of its own device registry.

Detection goes through the ggml functions the llama_cpp extension already links (the Python
bindings do not declare them), so what is listed is exactly what llama.cpp offloads to.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import asdict, dataclass
from typing import Any

DEVICE_KINDS = ("cpu", "gpu", "igpu", "accel", "meta")  # ggml_backend_dev_type, in order


@dataclass(frozen=True)
class DeviceInfo:
    """One device in llama.cpp's registry, as ggml describes it."""

    name: str  # CUDA0, Metal, CPU
    description: str  # NVIDIA GeForce RTX 4090, Apple M2 Max
    kind: str  # one of DEVICE_KINDS
    free: int  # bytes
    total: int
    backend: str = ""  # the registry it belongs to: CUDA, Metal, CPU

    @property
    def is_gpu(self) -> bool:
        return self.kind in ("gpu", "igpu")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeviceInfo:
        return cls(**{k: data[k] for k in ("name", "description", "kind", "free", "total", "backend") if k in data})


_lib: Any = None


def ggml_library() -> Any:
    """The llama.cpp library with ggml's device-registry functions declared (the bindings lack them)."""
    global _lib
    if _lib is not None:
        return _lib
    import llama_cpp as lc
    from llama_cpp import llama_cpp as low

    _quiet(lc)
    lib = low._lib
    ptr, size, text = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p
    for name, restype, argtypes in (
        ("ggml_backend_dev_count", size, []),
        ("ggml_backend_dev_get", ptr, [size]),
        ("ggml_backend_dev_name", text, [ptr]),
        ("ggml_backend_dev_description", text, [ptr]),
        ("ggml_backend_dev_memory", None, [ptr, ctypes.POINTER(size), ctypes.POINTER(size)]),
        ("ggml_backend_dev_type", ctypes.c_int, [ptr]),
        ("ggml_backend_dev_backend_reg", ptr, [ptr]),
        ("ggml_backend_reg_count", size, []),
        ("ggml_backend_reg_get", ptr, [size]),
        ("ggml_backend_reg_name", text, [ptr]),
    ):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    _lib = lib
    return lib


_log_callback: Any = None


def _quiet(lc: Any) -> None:
    """Keep llama.cpp's device probing off the terminal unless EMBER_DEBUG_LLAMA is set."""
    global _log_callback
    if _log_callback is not None or "ember.backend.engine.runner" in sys.modules:
        return

    @lc.llama_log_callback
    def callback(level: int, message: bytes, user_data: ctypes.c_void_p) -> None:
        if os.environ.get("EMBER_DEBUG_LLAMA"):
            os.write(2, message)

    _log_callback = callback
    lc.llama_log_set(callback, ctypes.c_void_p())
    lc.llama_backend_init()


def backend_names() -> list[str]:
    """The ggml backends compiled into the installed llama.cpp: CPU, CUDA, Metal, BLAS, …"""
    lib = ggml_library()
    return [lib.ggml_backend_reg_name(lib.ggml_backend_reg_get(i)).decode()
            for i in range(lib.ggml_backend_reg_count())]


def detect_devices() -> list[DeviceInfo]:
    """Every device llama.cpp can place tensors on, with its free and total memory now."""
    lib = ggml_library()
    devices = []
    for i in range(lib.ggml_backend_dev_count()):
        dev = lib.ggml_backend_dev_get(i)
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        kind = lib.ggml_backend_dev_type(dev)
        reg = lib.ggml_backend_dev_backend_reg(dev)
        devices.append(DeviceInfo(
            name=(lib.ggml_backend_dev_name(dev) or b"").decode(errors="replace"),
            description=(lib.ggml_backend_dev_description(dev) or b"").decode(errors="replace").strip(),
            kind=DEVICE_KINDS[kind] if 0 <= kind < len(DEVICE_KINDS) else "unknown",
            free=free.value,
            total=total.value,
            backend=(lib.ggml_backend_reg_name(reg) or b"").decode() if reg else "",
        ))
    return devices


def gpu_offload_supported() -> bool:
    import llama_cpp as lc

    ggml_library()
    return bool(lc.llama_supports_gpu_offload())
