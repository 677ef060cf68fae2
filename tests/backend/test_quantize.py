"""`create --quantize`: llama.cpp's quantiser writes the embedded model (Q4_1) anew, and the result runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from ember.backend.config import Config
from ember.backend.engine.quantize import parse_quant_type
from ember.backend.errors import InvalidRequest
from ember.backend.local.local_backend import LocalBackend
from ember.backend.store.ggufmeta import read_gguf_meta
from ember.backend.types import GenerateRequest

MODELFILE = 'FROM smollm2:135m\nSYSTEM "You answer briefly."\nPARAMETER temperature 0\n'


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, session_home: Path) -> LocalBackend:
    return LocalBackend(Config(models=tmp_path_factory.mktemp("quantize") / "models", keep_alive="0"))


async def test_quantize_writes_new_weights_with_progress_and_keeps_the_other_layers(local):
    events = [e async for e in local.create("smol-q8", MODELFILE, quantize="q8_0")]
    quantizing = [e for e in events if e.status == "quantizing Q4_1 model to Q8_0"]
    assert len(quantizing) >= 2 and quantizing[0].completed == 0
    assert quantizing[-1].completed == quantizing[-1].total > 0
    assert [e.completed for e in quantizing] == sorted(e.completed for e in quantizing)
    created = [e.status for e in events if e.status.startswith("creating new layer sha256:")]
    assert created and events[-1].status == "success"
    quantized, base = local.record("smol-q8"), local.record("smollm2:135m")
    assert quantized.model_path != base.model_path
    assert read_gguf_meta(quantized.model_path).file_type == "Q8_0"
    assert quantized.details.quantization_level == "Q8_0" and base.details.quantization_level == "Q4_1"
    assert quantized.system == "You answer briefly." and quantized.parameters == {"temperature": 0}
    assert created[0].removeprefix("creating new layer ") == quantized.manifest.layers[0].digest
    answer = "".join([c.text async for c in local.generate(GenerateRequest(
        model="smol-q8", prompt="The capital of France is", raw=True,
        options={"temperature": 0, "num_predict": 4}))])
    assert answer.strip()


@pytest.mark.parametrize("text, canonical", [("q4_K_M", "Q4_K_M"), ("Q8_0", "Q8_0"), ("q4_k_s", "Q4_K_S")])
def test_quantization_types_are_read_as_ollama_spells_them(text, canonical):
    assert parse_quant_type(text) == canonical


async def test_an_unknown_type_is_one_line_and_nothing_is_written(local):
    with pytest.raises(InvalidRequest, match='cannot quantize to "q3_z": choose one of q4_K_M, q4_K_S, q8_0'):
        [e async for e in local.create("smol-bad", MODELFILE, quantize="q3_z")]
    assert "smol-bad:latest" not in [m.name for m in await local.list_models()]
