"""llama.cpp's own `llama-server` and `llama-bench`, built once from the tree llama-cpp-python vendors.

The anchor of the speed benchmarks: the same llama.cpp commit as ember's bindings, built with the same
CPU flags as scripts/install.sh, so a ratio against it measures ember and nothing else. The sdist comes
from pip (its cache first); the build goes to ~/.cache/ember-bench/llama-server-<version> (EMBER_BENCH_CACHE
moves it), under `nice -n 19` on two jobs, and is reused while its binaries are there.
Usage: .venv/bin/python bench/llama_build.py   (prints the folder holding the binaries)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

TARGETS = ("llama-server", "llama-bench")
# What the benchmark does not need, and what would reach for the network (the web UI's assets).
QUIET_OPTIONS = ("-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF",
                 "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_CURL=OFF", "-DBUILD_SHARED_LIBS=OFF",
                 "-DCMAKE_BUILD_TYPE=Release")


def llama_version() -> str:
    from importlib.metadata import version

    return version("llama-cpp-python")


def cache_root() -> Path:
    return Path(os.environ.get("EMBER_BENCH_CACHE", Path.home() / ".cache" / "ember-bench"))


def cpu_flags() -> list[str]:
    """The flags scripts/install.sh builds the bindings with (its `cpu_flags`), or CMAKE_ARGS as given."""
    if given := os.environ.get("CMAKE_ARGS"):
        return given.split()
    flags = ["-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON",
             "-DGGML_BMI2=ON"]
    try:
        cpu = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return flags
    if "avx512f" in cpu:
        flags.append("-DGGML_AVX512=ON")
        for feature, flag in (("avx512_vbmi", "VBMI"), ("avx512_vnni", "VNNI"), ("avx512_bf16", "BF16")):
            if feature in cpu:
                flags.append(f"-DGGML_AVX512_{flag}=ON")
    return flags


def sdist(version: str, into: Path) -> Path:
    """llama-cpp-python's source archive, from pip's cache when it has it."""
    name = f"llama_cpp_python-{version}.tar.gz"
    if (into / name).exists():
        return into / name
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps",
                    f"llama-cpp-python=={version}", "-d", str(into)], check=True)
    return into / name


def source_tree(version: str, root: Path) -> Path:
    tree = root / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
    if not (tree / "CMakeLists.txt").exists():
        with tarfile.open(sdist(version, root)) as archive:
            members = [m for m in archive.getmembers() if "/vendor/llama.cpp/" in m.name]
            archive.extractall(root, members=members, filter="data")
    return tree


def build(*, jobs: int = 2, log=print, flavour: str = "", targets: tuple[str, ...] = TARGETS,  # noqa: ANN001
          options: tuple[str, ...] = ()) -> Path:
    """The folder holding `targets` (llama-server and llama-bench), building them the first time; a
    `flavour` (e.g. "rpc", with its cmake `options`) is a build of its own beside the plain one."""
    version = llama_version()
    root = cache_root()
    suffix = f"-{flavour}" if flavour else ""
    home = root / f"llama-server{suffix}-{version}"
    if all((home / name).exists() for name in targets):
        return home
    tree = source_tree(version, root)
    work = root / f"build{suffix}-{version}"
    log(f"building {', '.join(targets)} {version} once into {home} (nice -n 19, -j{jobs}; several minutes)")
    nice = ["nice", "-n", "19"]
    subprocess.run([*nice, "cmake", "-S", str(tree), "-B", str(work), *QUIET_OPTIONS, *cpu_flags(), *options],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*nice, "cmake", "--build", str(work), "-j", str(jobs), "--target", *targets], check=True,
                   stdout=subprocess.DEVNULL)
    home.mkdir(parents=True, exist_ok=True)
    for name in targets:
        (home / name).write_bytes((work / "bin" / name).read_bytes())
        (home / name).chmod(0o755)
    return home


def wait_healthy(url: str, process: subprocess.Popen, seconds: float, log=None) -> None:  # noqa: ANN001
    """Until `url`/health answers 200; the process's exit (with the tail of `log`, a file) or the clock ends it."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = ""
            if log is not None:
                log.seek(0)
                tail = ": " + log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"llama-server exited with {process.returncode}{tail}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama-server did not answer within {seconds:.0f} s")


if __name__ == "__main__":
    print(build())
