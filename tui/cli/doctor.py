"""`ember doctor`: the llama.cpp build, the CPU, the GPUs, and how each local model would be split.

The machine report comes from ember.backend.machine; the models from the Backend interface.
"""

from __future__ import annotations

import argparse

from ember.backend.parameters import PARAMETERS
from ember.backend.service import Backend
from ember.tui.cli.format import human_size, table


async def cmd_doctor(backend: Backend, args: argparse.Namespace) -> int:
    from ember.backend.cachetypes import cache_type
    from ember.backend.config import load_config
    from ember.backend.machine import machine_report, offload_plan

    report = machine_report()
    config = load_config()
    parallel = config.num_parallel  # each loaded model holds this many sequences of num_ctx
    cache = cache_type(config.kv_cache_type)
    print(f"Build        {_build_line(report.flavour, report.recorded)}")
    print(f"llama.cpp    llama-cpp-python {report.llama_cpp_version}; backends {', '.join(report.backends)}; "
          f"GPU offload {'yes' if report.gpu_offload else 'no'}")
    print(f"CPU          {report.cpu}, {report.threads} threads")
    print(f"CPU features {' '.join(report.cpu_features) or 'none reported'}")
    if report.gpus:
        for gpu in report.gpus:
            print(f"GPU          {gpu.name}: {gpu.description}, {human_size(gpu.free)} free of {human_size(gpu.total)}")
    else:
        print("GPU          none" + ("" if report.gpu_offload else " (this build runs on the CPU only)"))
    if report.recorded and report.recorded != report.flavour:
        print(f"\nWarning: the installer chose a {report.recorded} build but llama.cpp was built for "
              f"{report.flavour}; run EMBER_BUILD={report.recorded} ./scripts/install.sh again")
    print()
    rows = []
    for summary in await backend.list_models():
        info = await backend.show(summary.name)
        num_ctx = int(info.parameters.get("num_ctx", config.context_length or PARAMETERS["num_ctx"].default))
        num_gpu = int(info.parameters.get("num_gpu", PARAMETERS["num_gpu"].default))
        num_batch = int(info.parameters.get("num_batch", PARAMETERS["num_batch"].default))
        plan = offload_plan(report, info.model_info, summary.size, num_ctx=num_ctx, parallel=parallel,
                            num_batch=num_batch, num_gpu=num_gpu, kv_value_bytes=cache.value_bytes)
        rows.append((summary.name, human_size(plan.total_bytes), str(num_ctx),
                     f"{plan.layers}/{plan.total_layers}", plan.processor, plan.reason))
    if rows:
        print(f"What each model would offload at its num_ctx, with {parallel} parallel sequences"
              f"{'' if cache.name == 'f16' else f' and a {cache.name} cache'}:")
        print(table(("NAME", "MEMORY", "CONTEXT", "GPU LAYERS", "PROCESSOR", "WHY"), rows))
    else:
        print('No local models: "ember pull MODEL" fetches one.')
    return 0


def _build_line(flavour: str, recorded: str | None) -> str:
    if recorded is None:
        return f"{flavour} (installed before ember recorded its build choice)"
    return flavour if recorded == flavour else f"{flavour} (the installer chose {recorded})"
