"""GPU offload: the estimate against recorded devices and models, the CPU path for real, the build.

No GPU is at hand here, so the devices are recorded descriptions (tests/data/devices/*.json, in the
shape detect_devices() returns) and the models are geometries recorded from real GGUFs
(tests/data/devices/models/). The embedded model and this machine's llama.cpp are used for real.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ember.backend.engine.buildinfo import installed_flavour, recorded_flavour, system_info
from ember.backend.engine.devices import DeviceInfo, backend_names, detect_devices, gpu_offload_supported
from ember.backend.engine.geometry import ModelGeometry, geometry_from_gguf, geometry_from_info
from ember.backend.engine.offload import (
    DEFAULT_HEADROOM,
    MiB,
    OffloadPlan,
    estimate_offload,
    fallback_layers,
    load_offloaded,
    load_with_fallback,
)
from ember.backend.errors import EmberError, InvalidModelFile
from ember.backend.store.ggufmeta import read_gguf_meta

DATA = Path(__file__).parent.parent / "data" / "devices"
ROOT = Path(__file__).parents[2]
GPU_MACHINES = ["rtx4090d", "rtx5060ti", "rtx4070ti-rtx3090ti", "h100", "apple-m2-max"]


def machine(name: str) -> tuple[list[DeviceInfo], bool]:
    data = json.loads((DATA / f"{name}.json").read_text())
    return [DeviceInfo.from_json(d) for d in data["devices"]], data["gpu_offload"]


def model(name: str) -> ModelGeometry:
    return ModelGeometry.from_json(json.loads((DATA / "models" / f"{name}.json").read_text()))


def plan(model_name: str, machine_name: str, num_ctx: int, **kwargs: object) -> OffloadPlan:
    devices, gpu = machine(machine_name)
    return estimate_offload(model(model_name), devices, num_ctx, gpu_offload=gpu, **kwargs)  # type: ignore[arg-type]


def usable(machine_name: str, result: OffloadPlan) -> int:
    gpus = [d for d in machine(machine_name)[0] if d.is_gpu]
    return sum(d.free - DEFAULT_HEADROOM - result.graph_bytes for d in gpus)


# the arithmetic against what llama.cpp logs ---------------------------------------------------

def test_kv_cache_matches_what_llama_cpp_allocates():
    # Llama 3 8B: 32 layers × 8 KV heads × 128 × (K + V) × f16 = 128 KiB a token.
    assert plan("llama3.1-8b-q4_k_m", "h100", 8192).kv_bytes == 1024 * MiB
    # "KV self size = 1952.00 MiB" for GLM-4-32B at n_ctx 32768 (see the fixture's source).
    assert plan("glm4-32b", "h100", 32768).kv_bytes == 1952 * MiB


def test_parallel_sequences_multiply_the_kv_cache():
    one = plan("llama3.1-8b-q4_k_m", "rtx5060ti", 8192)
    four = plan("llama3.1-8b-q4_k_m", "rtx5060ti", 8192, parallel=4)
    assert four.kv_bytes == 4 * one.kv_bytes


# whole, split, none ---------------------------------------------------------------------------

@pytest.mark.parametrize("machine_name", GPU_MACHINES)
def test_an_8b_model_fits_whole_on_every_recorded_gpu(machine_name):
    result = plan("llama3.1-8b-q4_k_m", machine_name, 4096)
    assert result.layers == result.total_layers == 33
    assert result.full and result.processor == "100% GPU"
    assert result.size_vram == result.total_bytes
    assert sum(n for _, n in result.split) == 33


@pytest.mark.parametrize(("model_name", "machine_name", "num_ctx"), [
    ("llama3.3-70b-q4_k_m", "rtx4090d", 4096),
    ("llama3.3-70b-q4_k_m", "rtx5060ti", 8192),
    ("qwen2.5-32b-q4_k_m", "rtx5060ti", 4096),
    ("qwen2.5-32b-q4_k_m", "rtx4090d", 32768),
    ("glm4-32b", "rtx5060ti", 32768),
    ("llama3.3-70b-q4_k_m", "apple-m2-max", 32768),
    ("llama3.3-70b-q4_k_m", "rtx4070ti-rtx3090ti", 4096),
])
def test_a_model_too_big_for_the_gpu_gets_as_many_layers_as_fit(model_name, machine_name, num_ctx):
    result = plan(model_name, machine_name, num_ctx)
    assert 0 < result.layers < result.total_layers
    gpus = len([d for d in machine(machine_name)[0] if d.is_gpu])
    weights_and_kv = result.vram_bytes - gpus * result.graph_bytes
    assert weights_and_kv <= usable(machine_name, result)
    one_more = plan(model_name, machine_name, num_ctx, num_gpu=result.layers + 1)
    assert one_more.vram_bytes - gpus * one_more.graph_bytes > usable(machine_name, result)
    assert re.fullmatch(r"\d+%/\d+% CPU/GPU", result.processor)
    assert f"{result.layers} of {result.total_layers} layers fit" in result.reason


def test_a_70b_model_on_a_24_gb_card_is_about_half_on_the_gpu():
    result = plan("llama3.3-70b-q4_k_m", "rtx4090d", 4096)
    assert 40 <= result.layers <= 46
    assert result.processor == "48%/52% CPU/GPU"


def test_a_longer_context_leaves_room_for_fewer_layers():
    layers = [plan("llama3.3-70b-q4_k_m", "h100", ctx).layers for ctx in (4096, 32768, 65536, 131072)]
    assert layers[0] == 81
    assert layers == sorted(layers, reverse=True)
    assert layers[-1] < 81


def test_two_gpus_share_the_layers_in_proportion_to_their_memory():
    both = plan("llama3.3-70b-q4_k_m", "rtx4070ti-rtx3090ti", 4096)
    alone = plan("llama3.3-70b-q4_k_m", "rtx4090d", 4096)
    assert both.layers > alone.layers
    split = dict(both.split)
    assert set(split) == {"CUDA0", "CUDA1"} and sum(split.values()) == both.layers
    assert 1.7 < split["CUDA1"] / split["CUDA0"] < 2.6  # 24 GB against 12 GB


def test_without_a_gpu_everything_runs_on_the_cpu():
    result = plan("llama3.1-8b-q4_k_m", "cpu-only", 4096)
    assert (result.layers, result.vram_bytes, result.size_vram) == (0, 0, 0)
    assert result.processor == "100% CPU"
    assert result.reason == "this build of llama.cpp runs on the CPU only"
    devices, _ = machine("rtx4090d")
    no_gpu = estimate_offload(model("llama3.1-8b-q4_k_m"), [d for d in devices if not d.is_gpu], 4096)
    assert no_gpu.layers == 0 and no_gpu.reason == "no GPU found"


def test_a_cpu_build_offloads_nothing_even_where_a_gpu_is_listed():
    devices, _ = machine("rtx4090d")
    result = estimate_offload(model("llama3.1-8b-q4_k_m"), devices, 4096, gpu_offload=False)
    assert result.layers == 0 and result.processor == "100% CPU"


def test_an_integrated_gpu_counts_as_a_gpu():
    igpu = DeviceInfo("Vulkan0", "AMD Radeon 780M", "igpu", 16 << 30, 16 << 30, "Vulkan")
    assert estimate_offload(model("llama3.1-8b-q4_k_m"), [igpu], 4096).full


@pytest.mark.parametrize(("num_gpu", "expected"), [(0, 0), (10, 10), (81, 81), (999, 81)])
def test_num_gpu_overrides_the_estimate(num_gpu, expected):
    result = plan("llama3.3-70b-q4_k_m", "rtx5060ti", 4096, num_gpu=num_gpu)
    assert result.layers == expected
    if num_gpu:
        assert result.reason.startswith(f"num_gpu {num_gpu}")


# the geometry of a real GGUF ------------------------------------------------------------------

def test_geometry_of_the_embedded_model_comes_from_its_tensors(smollm2_gguf):
    geometry = geometry_from_gguf(smollm2_gguf)
    assert (geometry.n_layer, geometry.n_embd, geometry.n_head, geometry.n_vocab) == (30, 576, 9, 49152)
    assert set(geometry.n_head_kv) == {3} and geometry.key_length == geometry.value_length == 64
    assert len(set(geometry.layer_bytes)) == 1  # every block has the same tensors and types
    assert geometry.shared_bytes == geometry.input_bytes > 0  # SmolLM2 ties its output head
    size = smollm2_gguf.stat().st_size
    assert 0.97 * size < geometry.weights_bytes < size  # the rest is the header


def test_the_estimate_from_show_metadata_is_close_to_the_exact_one(smollm2_gguf):
    meta = read_gguf_meta(smollm2_gguf)
    info = dict(meta.kv, **{"general.parameter_count": meta.parameter_count})
    rough = geometry_from_info(info, smollm2_gguf.stat().st_size)
    exact = geometry_from_gguf(smollm2_gguf)
    assert (rough.n_layer, rough.n_head_kv, rough.n_vocab) == (exact.n_layer, exact.n_head_kv, exact.n_vocab)
    gpu = [DeviceInfo("CUDA0", "a 2 GB card", "gpu", 2 << 30, 2 << 30, "CUDA")]
    rough_vram = estimate_offload(rough, gpu, 4096).vram_bytes
    exact_vram = estimate_offload(exact, gpu, 4096).vram_bytes
    assert exact_vram <= rough_vram < 1.1 * exact_vram  # errs on the side of less offload


# out of memory: fewer layers, and a word about it ---------------------------------------------

def test_fallback_tries_half_the_layers_then_none():
    assert fallback_layers(33) == [33, 16, 0]
    assert fallback_layers(1) == [1, 0]
    assert fallback_layers(0) == [0]


def test_an_out_of_memory_load_retries_with_fewer_layers_and_says_so(caplog):
    devices, _ = machine("rtx4090d")
    geometry = model("llama3.3-70b-q4_k_m")
    planned = estimate_offload(geometry, devices, 4096)
    fits = planned.layers // 2
    tried: list[int] = []

    def load(layers: int) -> str:  # llama.cpp returns no model when the GPU runs out of memory
        tried.append(layers)
        if layers > fits:
            raise InvalidModelFile("llama.cpp could not load the model: not a model it supports, or damaged")
        return f"runner with {layers} layers"

    with caplog.at_level(logging.WARNING, logger="ember.hardware"):
        runner, used = load_with_fallback(load, planned,
                                          lambda n: estimate_offload(geometry, devices, 4096, num_gpu=n))
    assert tried == [planned.layers, fits]
    assert runner == f"runner with {fits} layers" and used.layers == fits
    assert used.vram_bytes < planned.vram_bytes
    assert used.reason == f"out of memory with {planned.layers} layers on the GPU; loaded with {fits}"
    assert used.reason in caplog.text


def test_when_even_the_cpu_load_fails_the_error_is_the_last_one():
    planned = plan("llama3.1-8b-q4_k_m", "rtx4090d", 4096)

    def load(layers: int) -> str:
        raise EmberError(f"failed with {layers}")

    with pytest.raises(EmberError, match="failed with 0"):
        load_with_fallback(load, planned, lambda n: planned)


# this machine, for real -----------------------------------------------------------------------

def test_load_offloaded_passes_the_planned_layers_to_the_loader(smollm2_gguf):
    layers, used = load_offloaded(smollm2_gguf, lambda n: n, num_ctx=512, parallel=1)
    assert layers == used.layers == (0 if installed_flavour() == "cpu" else 31)
    forced, used = load_offloaded(smollm2_gguf, lambda n: n, num_ctx=512, num_gpu=0)
    assert forced == 0 and used.reason == "num_gpu is 0: the model runs on the CPU"


def test_a_file_that_is_not_a_model_fails_with_the_loaders_own_error(tmp_path):
    from ember.backend.engine.runner import Runner

    bogus = tmp_path / "model.gguf"
    bogus.write_text("<html>not a model</html>")
    with pytest.raises(InvalidModelFile, match="llama.cpp could not load"):
        load_offloaded(bogus, lambda n: Runner(bogus, num_ctx=256, num_gpu=n), num_ctx=256)



def test_this_machines_devices_include_the_cpu():
    devices = detect_devices()
    cpu = [d for d in devices if d.kind == "cpu"]
    assert len(cpu) == 1 and cpu[0].total > 0 and cpu[0].backend == "CPU"
    assert "CPU" in backend_names()
    assert "CPU" in system_info()


async def test_the_cpu_path_loads_and_reports_the_split_for_real(backend, smollm2_gguf):
    from ember.backend.types import GenerateRequest

    async for _ in backend.generate(GenerateRequest(model="smollm2:135m", prompt="Hi",
                                                    options={"num_predict": 1, "temperature": 0})):
        pass
    [running] = [m for m in await backend.running() if m.name == "smollm2:135m"]
    key = next(r.key for r in backend.scheduler.residents() if r.name == "smollm2:135m")
    assert key.model.stat().st_ino == smollm2_gguf.stat().st_ino
    offload = backend.offload[key]
    # weights + KV + buffers, and an embedding context of the same model when one is loaded too
    assert running.size >= offload.total_bytes > smollm2_gguf.stat().st_size
    assert running.size_vram == offload.size_vram
    if installed_flavour() == "cpu":
        assert offload.layers == 0 and running.size_vram == 0
        assert offload.reason == "this build of llama.cpp runs on the CPU only"
    else:  # a GPU build: the 135M model fits on any GPU
        assert offload.full and running.size_vram == running.size


# the build the installer chose ----------------------------------------------------------------

def test_the_installed_extension_has_the_backend_the_installer_chose():
    chosen = recorded_flavour() or _installer_choice({})
    assert installed_flavour() == chosen
    assert gpu_offload_supported() == (chosen != "cpu")
    gpu_backends = set(backend_names()) & {"CUDA", "Metal", "MTL", "ROCm", "Vulkan", "SYCL", "MUSA"}
    expected = {"cpu": set(), "cuda": {"CUDA"}, "metal": {"Metal"}}[chosen]
    assert gpu_backends == expected or (chosen == "metal" and gpu_backends == {"MTL"})
    if chosen == "cpu":
        assert not [d for d in detect_devices() if d.is_gpu]


def _installer_choice(env: dict[str, str], path: str | None = None) -> str:
    result = subprocess.run([str(ROOT / "scripts" / "install.sh"), "--print-build"], capture_output=True,
                            text=True, timeout=30, env={**os.environ, **env, **({"PATH": path} if path else {})})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _stub(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    return directory


def _system_path() -> str:
    return "/usr/bin:/bin"


@pytest.mark.timeout(60)
def test_the_installer_builds_for_cuda_where_the_toolkit_and_a_gpu_are_present(stubs):
    _stub(stubs, "nvcc", "echo 'Cuda compilation tools, release 12.4'")
    _stub(stubs, "nvidia-smi", 'echo "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-2ef77503)"')
    assert _installer_choice({"EMBER_BUILD": ""}, f"{stubs}:{_system_path()}") == "cuda"


@pytest.mark.timeout(60)
def test_the_installer_does_not_build_for_cuda_on_a_toolkit_without_a_gpu(stubs):
    _stub(stubs, "nvcc", "echo 'Cuda compilation tools, release 12.4'")
    _stub(stubs, "nvidia-smi", "echo 'NVIDIA-SMI has failed because it could not communicate with the driver' >&2; exit 9")
    assert _installer_choice({"EMBER_BUILD": ""}, f"{stubs}:{_system_path()}") == "cpu"


@pytest.mark.timeout(60)
def test_the_installer_builds_for_metal_on_apple_silicon(stubs):
    _stub(stubs, "uname", 'case "$1" in -s) echo Darwin ;; -m) echo arm64 ;; *) echo Darwin ;; esac')
    assert _installer_choice({"EMBER_BUILD": ""}, f"{stubs}:{_system_path()}") == "metal"


@pytest.mark.timeout(60)
def test_the_installer_builds_for_the_cpu_without_a_toolkit(stubs):
    if shutil.which("nvcc", path=_system_path()):
        pytest.skip("this machine has nvcc in /usr/bin")
    _stub(stubs, "nvidia-smi", 'echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)"')
    assert _installer_choice({"EMBER_BUILD": "", "CUDA_HOME": str(stubs / "none")},
                             f"{stubs}:{_system_path()}") == "cpu"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("flavour", ["cpu", "cuda", "metal"])
def test_ember_build_overrides_the_choice(stubs, flavour):
    _stub(stubs, "nvcc", "exit 0")
    _stub(stubs, "nvidia-smi", 'echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)"')
    assert _installer_choice({"EMBER_BUILD": flavour}, f"{stubs}:{_system_path()}") == flavour


@pytest.mark.timeout(60)
def test_an_unknown_ember_build_is_refused_in_one_line():
    result = subprocess.run([str(ROOT / "scripts" / "install.sh"), "--print-build"], capture_output=True,
                            text=True, timeout=30, env={**os.environ, "EMBER_BUILD": "rocm"})
    assert result.returncode == 1
    assert result.stderr.strip() == 'EMBER_BUILD must be cpu, cuda or metal, not "rocm"'
