"""The installed llama.cpp build: what it was built for, what it reports, and what `ember doctor` shows.

`python -m ember.backend.engine.buildinfo --installed-build` prints the build's flavour (cpu, cuda,
metal, …) for scripts/install.sh.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ember.backend.engine.devices import (
    DeviceInfo,
    backend_names,
    detect_devices,
    ggml_library,
    gpu_offload_supported,
)

FLAVOURS = {"CUDA": "cuda", "Metal": "metal", "MTL": "metal", "ROCm": "rocm", "MUSA": "musa",
            "Vulkan": "vulkan", "SYCL": "sycl"}
BUILD_FILE = "ember-build"  # written into the virtual environment by scripts/install.sh


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

    ggml_library()
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
    """`python -m ember.backend.engine.buildinfo --installed-build`: the installer's check of the build."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--installed-build"]:
        print(installed_flavour())
        return 0
    print("usage: python -m ember.backend.engine.buildinfo --installed-build", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
