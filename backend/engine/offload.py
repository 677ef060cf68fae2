"""GPU offload: how many of a model's layers fit on this machine's GPUs, and loading with that many.

The estimate is plain arithmetic on a model's geometry, so it can be tested against recorded
devices on a machine without a GPU; a load that still runs out of memory is retried with fewer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from ember.backend.cachetypes import F16
from ember.backend.engine.devices import DeviceInfo, detect_devices, gpu_offload_supported
from ember.backend.engine.geometry import ModelGeometry, geometry_from_gguf
from ember.backend.errors import EmberError

log = logging.getLogger("ember.hardware")

MiB = 1 << 20
DEFAULT_HEADROOM = 512 * MiB  # per GPU: driver, CUDA/Metal context growth, fragmentation

T = TypeVar("T")


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
    num_ctx: int = 0  # the tokens of each sequence's KV cache in kv_bytes (0: not known)

    def at_context(self, num_ctx: int) -> OffloadPlan:
        """This plan once the context holds `num_ctx` tokens a sequence (a request resized it in place)."""
        if not self.num_ctx or num_ctx == self.num_ctx:
            return self
        kv = self.kv_bytes * num_ctx // self.num_ctx
        return replace(self, num_ctx=num_ctx, kv_bytes=kv, total_bytes=self.total_bytes - self.kv_bytes + kv)

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
                     headroom: int = DEFAULT_HEADROOM, flash_attention: bool = True,
                     kv_value_bytes: float = F16.value_bytes) -> OffloadPlan:
    """How many layers fit on `devices`' GPUs at `num_ctx` tokens × `parallel` sequences.

    llama.cpp offloads the last n repeating layers first and the output head once all of them
    are on the GPU; each GPU gets a share of the layers in proportion to its free memory and
    a compute buffer of its own. `num_gpu` >= 0 is the user's choice and is taken as given.
    """
    cells = num_ctx * max(1, parallel)
    ubatch = max(1, min(max(num_batch, parallel), cells))
    kv = [model.kv_bytes(i, cells, kv_value_bytes) for i in range(model.n_layer)]
    graph = graph_bytes(model, num_ctx, ubatch, flash_attention)
    total = model.weights_bytes + sum(kv) + graph
    total_layers = model.n_layer + 1
    gpus = [d for d in devices if d.is_gpu]
    plan = OffloadPlan(0, total_layers, 0, total, sum(kv), graph, num_ctx=num_ctx)
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
                  num_batch: int = 512, kv_value_bytes: float = F16.value_bytes) -> OffloadPlan:
    """The offload plan for a GGUF on this machine, from its tensor sizes and llama.cpp's devices."""
    gpu = gpu_offload_supported()
    geometry = geometry_from_gguf(path)
    return estimate_offload(geometry, detect_devices() if gpu else [], num_ctx, parallel=parallel,
                            num_batch=num_batch, num_gpu=num_gpu, gpu_offload=gpu, kv_value_bytes=kv_value_bytes)


def load_offloaded(path: Path, load: Callable[[int], T], *, num_ctx: int, num_gpu: int = -1,
                   parallel: int = 1, num_batch: int = 512,
                   kv_value_bytes: float = F16.value_bytes) -> tuple[T, OffloadPlan]:
    """Plan the offload for `path`, call `load(n_gpu_layers)`, and fall back on fewer layers."""
    if not gpu_offload_supported():  # nothing to place: the plan only describes it, so make it while loading
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ember-plan") as pool:
            planned = pool.submit(plan_for_file, path, num_ctx, num_gpu=num_gpu, parallel=parallel,
                                  num_batch=num_batch, kv_value_bytes=kv_value_bytes)
            loaded = load(0)  # no GPU to offload to
        try:
            return loaded, planned.result()
        except (OSError, EmberError) as exc:
            return loaded, _no_estimate(path, exc)
    try:
        plan = plan_for_file(path, num_ctx, num_gpu=num_gpu, parallel=parallel, num_batch=num_batch,
                             kv_value_bytes=kv_value_bytes)
    except (OSError, EmberError) as exc:  # an unreadable file: the load itself says what is wrong
        return load(-1 if num_gpu < 0 else num_gpu), _no_estimate(path, exc)
    if plan.total_layers <= 1:  # no layer count in the metadata: let llama.cpp place everything
        return load(-1 if num_gpu < 0 else num_gpu), plan

    def replan(layers: int) -> OffloadPlan:
        return plan_for_file(path, num_ctx, num_gpu=layers, parallel=parallel, num_batch=num_batch,
                             kv_value_bytes=kv_value_bytes)

    return load_with_fallback(load, plan, replan)


def _no_estimate(path: Path, why: Exception) -> OffloadPlan:
    """The plan of a model whose header could not be read: everything where llama.cpp puts it."""
    return OffloadPlan(0, 0, 0, Path(path).stat().st_size, 0, 0, reason=f"no estimate: {why}")
