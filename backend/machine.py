"""What the front ends may know of this machine: llama.cpp's build and devices, and how a model would be
split across them. `ember doctor` reads it; the engine behind it stays out of the front ends' reach."""

from __future__ import annotations

from typing import Any

from ember.backend.cachetypes import F16
from ember.backend.engine.buildinfo import MachineReport, machine_report
from ember.backend.engine.geometry import geometry_from_info
from ember.backend.engine.offload import OffloadPlan, estimate_offload

__all__ = ["MachineReport", "OffloadPlan", "machine_report", "offload_plan"]


def offload_plan(report: MachineReport, model_info: dict[str, Any], size: int, *, num_ctx: int, parallel: int,
                 num_batch: int, num_gpu: int, kv_value_bytes: float = F16.value_bytes) -> OffloadPlan:
    """How many layers of a model (as `show` describes it) would go to this machine's GPUs."""
    geometry = geometry_from_info(model_info, size)
    return estimate_offload(geometry, list(report.devices), num_ctx, parallel=parallel, num_batch=num_batch,
                            num_gpu=num_gpu, gpu_offload=report.gpu_offload, kv_value_bytes=kv_value_bytes)
