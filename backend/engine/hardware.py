"""Accelerators and GPU offload: what llama.cpp can use on this machine, and how many layers fit.

Detection asks llama.cpp's own device registry (the list it offloads to), through the ggml
functions the llama_cpp extension already links. The estimate is plain arithmetic on a model's
geometry, so it can be tested against recorded devices on a machine without a GPU.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from ember.backend.engine.geometry import ModelGeometry, geometry_from_gguf
from ember.backend.errors import EmberError

log = logging.getLogger("ember.hardware")

MiB = 1 << 20
DEFAULT_HEADROOM = 512 * MiB  # per GPU: driver, CUDA/Metal context growth, fragmentation
DEVICE_KINDS = ("cpu", "gpu", "igpu", "accel", "meta")  # ggml_backend_dev_type, in order
FLAVOURS = {"CUDA": "cuda", "Metal": "metal", "MTL": "metal", "ROCm": "rocm", "MUSA": "musa",
            "Vulkan": "vulkan", "SYCL": "sycl"}
BUILD_FILE = "ember-build"  # written into the virtual environment by scripts/install.sh

T = TypeVar("T")


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


@dataclass(frozen=True)
class OffloadPlan:
    """How a model would be split between the GPUs and the CPU (llama.cpp's n_gpu_layers)."""

    layers: int  # layers on the GPUs; total_layers means everything, the output head included
    total_layers: int  # the repeating blocks + 1 for the output head
    vram_bytes: int  # estimated GPU memory: offloaded weights, their KV cache, compute buffers
    total_bytes: int  # estimated memory for the whole model at this context
    kv_bytes: int
    graph_bytes: int
    split: tuple[tuple[str, int], ...] = ()  # layers per GPU
    reason: str = ""

    @property
    def full(self) -> bool:
        return self.total_layers > 0 and self.layers >= self.total_layers

    @property
    def size_vram(self) -> int:
        """GPU bytes as `ember ps` reports them: all of the model when it is fully offloaded."""
        if self.layers <= 0:
            return 0
        return self.total_bytes if self.full else min(self.vram_bytes, self.total_bytes)

    @property
    def processor(self) -> str:
        share = self.size_vram / self.total_bytes if self.total_bytes else 0.0
        if share <= 0:
            return "100% CPU"
        if share >= 1:
            return "100% GPU"
        return f"{1 - share:.0%}/{share:.0%} CPU/GPU"


def graph_bytes(model: ModelGeometry, num_ctx: int, ubatch: int, flash_attention: bool = True) -> int:
    """Compute buffer for one batch: the largest of attention scores, logits and the feed-forward.

    llama.cpp reuses one buffer across the graph, so the peak is about the largest stage plus
    the residual stream. With flash attention (llama.cpp enables it where the GPU supports it)
    the scores are never materialised.
    """
    f32 = 4
    scores = f32 * ubatch * model.n_head * (model.key_length if flash_attention else num_ctx)
    logits = f32 * ubatch * (model.n_vocab + model.n_embd)
    ffn = f32 * ubatch * 2 * model.n_ff
    return max(scores, logits, ffn) + f32 * ubatch * 2 * model.n_embd


def estimate_offload(model: ModelGeometry, devices: list[DeviceInfo], num_ctx: int, *, parallel: int = 1,
                     num_batch: int = 512, num_gpu: int = -1, gpu_offload: bool = True,
                     headroom: int = DEFAULT_HEADROOM, flash_attention: bool = True) -> OffloadPlan:
    """How many layers fit on `devices`' GPUs at `num_ctx` tokens × `parallel` sequences.

    llama.cpp offloads the last n repeating layers first and the output head once all of them
    are on the GPU; each GPU gets a share of the layers in proportion to its free memory and
    a compute buffer of its own. `num_gpu` >= 0 is the user's choice and is taken as given.
    """
    cells = num_ctx * max(1, parallel)
    ubatch = max(1, min(max(num_batch, parallel), cells))
    kv = [model.kv_bytes(i, cells) for i in range(model.n_layer)]
    graph = graph_bytes(model, num_ctx, ubatch, flash_attention)
    total = model.weights_bytes + sum(kv) + graph
    total_layers = model.n_layer + 1
    gpus = [d for d in devices if d.is_gpu]
    plan = OffloadPlan(0, total_layers, 0, total, sum(kv), graph)
    if num_gpu == 0:
        return replace(plan, reason="num_gpu is 0: the model runs on the CPU")
    if not gpu_offload:
        return replace(plan, reason="this build of llama.cpp runs on the CPU only")
    if not gpus:
        return replace(plan, reason="no GPU found")
    shares = [max(0, d.free - headroom - graph) for d in gpus]
    usable = sum(shares)

    def vram_for(layers: int) -> int:
        blocks = min(layers, model.n_layer)
        on_gpu = range(model.n_layer - blocks, model.n_layer)
        weights = sum(model.layer_bytes[i] + kv[i] for i in on_gpu)
        head = model.output_bytes if layers > model.n_layer else 0
        return weights + head + graph * len(gpus) if layers else 0

    if num_gpu > 0:
        layers = min(num_gpu, total_layers)
        reason = f"num_gpu {num_gpu} (set by the model or the request)"
    else:
        layers, used = 0, 0
        for i in reversed(range(model.n_layer)):
            cost = model.layer_bytes[i] + kv[i]
            if used + cost > usable:
                break
            used += cost
            layers += 1
        if layers == model.n_layer and used + model.output_bytes <= usable:
            layers += 1
        free = sum(d.free for d in gpus)
        if layers == total_layers:
            reason = "the whole model fits in GPU memory"
        elif layers:
            reason = f"{layers} of {total_layers} layers fit in {free / 2**30:.1f} GiB of free GPU memory"
        else:
            reason = f"not one layer fits in {free / 2**30:.1f} GiB of free GPU memory"
    return replace(plan, layers=layers, vram_bytes=vram_for(layers), reason=reason,
                   split=_split(layers, gpus, shares))


def _split(layers: int, gpus: list[DeviceInfo], shares: list[int]) -> tuple[tuple[str, int], ...]:
    """Layers per GPU in proportion to each one's room, as llama.cpp's default tensor split does."""
    if not layers or not gpus:
        return ()
    weights = shares if sum(shares) else [d.free or 1 for d in gpus]
    whole = sum(weights)
    bounds = [round(layers * sum(weights[: i + 1]) / whole) for i in range(len(gpus))]
    counts = [b - a for a, b in zip([0, *bounds], bounds)]
    return tuple((d.name, n) for d, n in zip(gpus, counts) if n)


def fallback_layers(layers: int) -> list[int]:
    """The layer counts to try when a load runs out of memory: as planned, half as many, none."""
    return sorted({layers, layers // 2, 0}, reverse=True) if layers > 0 else [layers]


def load_with_fallback(load: Callable[[int], T], plan: OffloadPlan,
                       replan: Callable[[int], OffloadPlan]) -> tuple[T, OffloadPlan]:
    """Load with `plan.layers` on the GPU; when that fails, retry with fewer and say so."""
    tries = fallback_layers(plan.layers)
    for attempt, layers in enumerate(tries):
        try:
            result = load(layers)
        except EmberError as exc:
            if attempt == len(tries) - 1:
                raise
            log.warning("loading with %d of %d layers on the GPU failed (%s); retrying with %d",
                        layers, plan.total_layers, exc, tries[attempt + 1])
            continue
        if layers != plan.layers:
            note = f"out of memory with {plan.layers} layers on the GPU; loaded with {layers}"
            log.warning("%s (set num_gpu to choose the number)", note)
            return result, replace(replan(layers), reason=note)
        return result, plan
    raise AssertionError("unreachable")


def plan_for_file(path: Path, num_ctx: int, *, num_gpu: int = -1, parallel: int = 1,
                  num_batch: int = 512) -> OffloadPlan:
    """The offload plan for a GGUF on this machine, from its tensor sizes and llama.cpp's devices."""
    gpu = gpu_offload_supported()
    geometry = geometry_from_gguf(path)
    return estimate_offload(geometry, detect_devices() if gpu else [], num_ctx, parallel=parallel,
                            num_batch=num_batch, num_gpu=num_gpu, gpu_offload=gpu)


def load_offloaded(path: Path, load: Callable[[int], T], *, num_ctx: int, num_gpu: int = -1,
                   parallel: int = 1, num_batch: int = 512) -> tuple[T, OffloadPlan]:
    """Plan the offload for `path`, call `load(n_gpu_layers)`, and fall back on fewer layers."""
    if not gpu_offload_supported():  # nothing to place: the plan only describes it, so make it while loading
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ember-plan") as pool:
            planned = pool.submit(plan_for_file, path, num_ctx, num_gpu=num_gpu, parallel=parallel,
                                  num_batch=num_batch)
            loaded = load(0)  # no GPU to offload to
        try:
            return loaded, planned.result()
        except (OSError, EmberError) as exc:
            return loaded, _no_estimate(path, exc)
    try:
        plan = plan_for_file(path, num_ctx, num_gpu=num_gpu, parallel=parallel, num_batch=num_batch)
    except (OSError, EmberError) as exc:  # an unreadable file: the load itself says what is wrong
        return load(-1 if num_gpu < 0 else num_gpu), _no_estimate(path, exc)
    if plan.total_layers <= 1:  # no layer count in the metadata: let llama.cpp place everything
        return load(-1 if num_gpu < 0 else num_gpu), plan

    def replan(layers: int) -> OffloadPlan:
        return plan_for_file(path, num_ctx, num_gpu=layers, parallel=parallel, num_batch=num_batch)

    return load_with_fallback(load, plan, replan)


def _no_estimate(path: Path, why: Exception) -> OffloadPlan:
    """The plan of a model whose header could not be read: everything where llama.cpp puts it."""
    return OffloadPlan(0, 0, 0, Path(path).stat().st_size, 0, 0, reason=f"no estimate: {why}")


# detection ------------------------------------------------------------------------------------

_lib: Any = None


def _ggml() -> Any:
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
    lib = _ggml()
    return [lib.ggml_backend_reg_name(lib.ggml_backend_reg_get(i)).decode()
            for i in range(lib.ggml_backend_reg_count())]


def detect_devices() -> list[DeviceInfo]:
    """Every device llama.cpp can place tensors on, with its free and total memory now."""
    lib = _ggml()
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

    _ggml()
    return bool(lc.llama_supports_gpu_offload())


def installed_flavour() -> str:
    """cpu, cuda, metal (or another GPU backend's name) — what the installed llama.cpp was built for."""
    for name in backend_names():
        if name in FLAVOURS:
            return FLAVOURS[name]
    return "cpu"


def recorded_flavour() -> str | None:
    """The build scripts/install.sh chose, recorded in the virtual environment; None if unknown."""
    try:
        return (Path(sys.prefix) / BUILD_FILE).read_text().strip() or None
    except OSError:
        return None


def system_info() -> dict[str, dict[str, str]]:
    """llama_print_system_info, parsed: {"CPU": {"AVX2": "1", …}, "CUDA": {"ARCHS": "890", …}}."""
    import llama_cpp as lc

    _ggml()
    text = lc.llama_print_system_info().decode(errors="replace")
    result: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for part in text.split("|"):
        if " : " in part:
            backend, _, part = part.partition(" : ")
            current = result.setdefault(backend.strip(), {})
        name, _, value = part.partition("=")
        if name.strip():
            current[name.strip()] = value.strip()
    return result


@dataclass(frozen=True)
class MachineReport:
    """What `ember doctor` prints about this machine."""

    flavour: str
    recorded: str | None
    llama_cpp_version: str
    gpu_offload: bool
    cpu: str
    threads: int
    cpu_features: tuple[str, ...]
    devices: tuple[DeviceInfo, ...]
    backends: tuple[str, ...]

    @property
    def gpus(self) -> tuple[DeviceInfo, ...]:
        return tuple(d for d in self.devices if d.is_gpu)


def machine_report() -> MachineReport:
    import llama_cpp as lc

    devices = detect_devices()
    cpu = next((d.description for d in devices if d.kind == "cpu"), "") or os.uname().machine
    info = system_info().get("CPU", {})
    try:
        threads = len(os.sched_getaffinity(0))
    except AttributeError:
        threads = os.cpu_count() or 1
    return MachineReport(
        flavour=installed_flavour(),
        recorded=recorded_flavour(),
        llama_cpp_version=lc.__version__,
        gpu_offload=gpu_offload_supported(),
        cpu=cpu,
        threads=threads,
        cpu_features=tuple(name for name, value in info.items() if value == "1"),
        devices=tuple(devices),
        backends=tuple(backend_names()),
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m ember.backend.engine.hardware --installed-build`: the installer's check of the build."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--installed-build"]:
        print(installed_flavour())
        return 0
    print("usage: python -m ember.backend.engine.hardware --installed-build", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
