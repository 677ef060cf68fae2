"""Quantise a GGUF with llama.cpp's own quantiser (`llama_model_quantize`), as `ollama create --quantize` does.

llama.cpp reports no progress of its own, so progress is the output file's growth against the size
its tensors will have in the new type.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Generator
from pathlib import Path

from ember.backend.engine import runner  # noqa: F401  (imported for its side effect: llama.cpp's log stays quiet)
from ember.backend.errors import EmberError, InvalidRequest

# Ollama's names for the types it quantises to, and the other whole-model types llama.cpp writes.
QUANT_TYPES = ("q4_K_M", "q4_K_S", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q5_K_M", "q5_K_S", "q6_K",
               "q3_K_L", "q3_K_M", "q3_K_S", "q2_K", "f16", "bf16")
_POLL = 0.2  # seconds between progress reports


def parse_quant_type(name: str) -> str:
    """The canonical spelling of a quantisation type (`Q4_K_M` for "q4_k_m"); one line when it is not one."""
    for known in QUANT_TYPES:
        if name.strip().lower() == known.lower():
            return known.upper()
    raise InvalidRequest(f'cannot quantize to "{name}": choose one of {", ".join(QUANT_TYPES)}')


def expected_size(source: Path, quant: str) -> int:
    """About how large `source` becomes in `quant`: its matrices re-encoded, its vectors kept as they are."""
    import gguf

    base = quant.removesuffix("_S").removesuffix("_M").removesuffix("_L") if "_K" in quant else quant
    block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[base]]
    reader = gguf.GGUFReader(source)
    size = int(reader.data_offset)
    for tensor in reader.tensors:
        if len(tensor.shape) < 2 or int(tensor.shape[0]) % block:
            size += int(tensor.n_bytes)
        else:
            size += int(tensor.n_elements) // block * type_size
    return size


def quantize_steps(source: Path, target: Path, quant: str, *,
                   threads: int = 0) -> Generator[tuple[int, int], None, None]:
    """Write `source` quantised to `quant` at `target`, yielding (bytes written, bytes expected) as it goes."""
    import llama_cpp as lc

    params = lc.llama_model_quantize_default_params()
    params.ftype = getattr(lc, f"LLAMA_FTYPE_MOSTLY_{quant}")
    params.allow_requantize = True
    params.nthread = threads or runner.default_threads()
    total = expected_size(source, quant)
    outcome: dict[str, int] = {}

    def work() -> None:
        outcome["rc"] = lc.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))

    worker = threading.Thread(target=work, name="ember-quantize", daemon=True)
    worker.start()
    yield 0, total
    while worker.is_alive():
        worker.join(_POLL)
        written = target.stat().st_size if target.exists() else 0
        yield min(written, total - 1), total
    if outcome.get("rc") != 0 or not target.is_file():
        target.unlink(missing_ok=True)
        raise EmberError(f"llama.cpp could not quantize {source.name} to {quant} (set EMBER_DEBUG_LLAMA=1 "
                         "to see why)")
    yield total, total
