"""`create`: Modelfiles built into the store, shown back, and run on the real model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ember.backend.errors import ModelfileError, ModelNotFound
from ember.backend.models.create import create_model
from ember.backend.parameters import PARAMETERS
from ember.backend.prompt.render import render_prompt, with_persona
from ember.backend.store.modelrecord import load_record
from ember.backend.store.modelstore import (
    MEDIA_ADAPTER,
    MEDIA_LICENSE,
    MEDIA_MESSAGES,
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_SYSTEM,
    MEDIA_TEMPLATE,
    ModelStore,
)
from ember.backend.store.names import parse_name
from ember.backend.types import ChatRequest, GenerateRequest, Message

BASE = "smollm2:135m"
GREEDY = {"temperature": 0, "seed": 7, "num_predict": 8}
CHATML = "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def store(models_dir: Path) -> ModelStore:
    return ModelStore(models_dir)


def create(store: ModelStore, name: str, text: str, base_dir: Path | None = None) -> list[str]:
    return [event.status for event in create_model(store, parse_name(name), text, base_dir or Path.cwd())]


def base_digest(store: ModelStore) -> str:
    layer = store.read_manifest(parse_name(BASE)).layer(MEDIA_MODEL)
    assert layer is not None
    return layer.digest


async def answer(backend, request) -> tuple[str, object]:
    text, final = "", None
    stream = backend.chat(request) if isinstance(request, ChatRequest) else backend.generate(request)
    async for chunk in stream:
        text += chunk.text
        if chunk.done:
            final = chunk
    return text, final


def test_create_from_a_model_writes_one_layer_per_instruction_and_shares_the_weights(store, tmp_path):
    text = (f"FROM {BASE}\nTEMPLATE \"\"\"{CHATML}\"\"\"\nSYSTEM Be brief.\nPARAMETER temperature 0.3\n"
            "PARAMETER stop END\nMESSAGE user Hi\nMESSAGE assistant Hello.\nLICENSE MIT\n")
    blobs_before = {p.name for p in store.blobs.iterdir()}
    statuses = create(store, "test/layers", text)
    assert statuses[0] == "gathering model components"
    assert f"using existing layer {base_digest(store)}" in statuses
    assert any(s.startswith("creating new layer sha256:") for s in statuses)
    assert statuses[-2:] == ["writing manifest", "success"]

    manifest = store.read_manifest(parse_name("test/layers"))
    kinds = [layer.media_type for layer in manifest.layers]
    assert kinds == [MEDIA_MODEL, MEDIA_TEMPLATE, MEDIA_SYSTEM, MEDIA_PARAMS, MEDIA_MESSAGES, MEDIA_LICENSE]
    assert manifest.layer(MEDIA_MODEL).digest == base_digest(store)  # type: ignore[union-attr]
    new_blobs = {p.name for p in store.blobs.iterdir()} - blobs_before
    assert len(new_blobs) <= 5 and all(store.blobs.joinpath(b).stat().st_size < 4096 for b in new_blobs)

    record = load_record(store, "test/layers")
    assert record.system == "Be brief." and record.template == CHATML and record.license == "MIT"
    assert record.parameters == {"temperature": 0.3, "stop": ["END"]}
    assert [(m.role, m.content) for m in record.messages] == [("user", "Hi"), ("assistant", "Hello.")]


def test_a_model_built_on_another_inherits_its_layers_and_merges_parameters(store):
    create(store, "test/parent", f"FROM {BASE}\nSYSTEM parent\nPARAMETER temperature 0.3\nPARAMETER top_k 7\n")
    statuses = create(store, "test/child", "FROM test/parent\nPARAMETER temperature 0.9\n")
    parent = store.read_manifest(parse_name("test/parent"))
    assert all(f"using existing layer {layer.digest}" in statuses for layer in parent.layers)
    child = load_record(store, "test/child")
    assert child.system == "parent"
    assert child.parameters == {"temperature": 0.9, "top_k": 7}


def test_create_from_a_gguf_path_relative_to_the_modelfile_or_a_folder_holding_one(store, tmp_path, smollm2_gguf):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "smol.gguf").symlink_to(smollm2_gguf)
    statuses = create(store, "test/from-file", "FROM ./weights/smol.gguf\nSYSTEM from a file\n", tmp_path)
    assert "parsing GGUF" in statuses and f"using existing layer {base_digest(store)}" in statuses
    assert create(store, "test/from-folder", "FROM weights\n", tmp_path)[-1] == "success"
    for name in ("test/from-file", "test/from-folder"):
        layer = store.read_manifest(parse_name(name)).layer(MEDIA_MODEL)
        assert layer is not None and layer.digest == base_digest(store)


async def test_show_modelfile_recreates_an_identical_model(backend, store):
    text = (f"FROM {BASE}\nTEMPLATE \"\"\"{CHATML}\"\"\"\nSYSTEM \"\"\"Two\nlines, \"quoted\".\"\"\"\n"
            "PARAMETER temperature 0.25\nPARAMETER stop A\nPARAMETER stop \" B\"\nMESSAGE user \"Hi \\\\ there\"\n"
            "MESSAGE assistant Hello.\nLICENSE \"\"\"Licence\ntext\"\"\"\n")
    create(store, "test/original", text)
    shown = (await backend.show("test/original")).modelfile
    create(store, "test/copy", shown)
    original = store.read_manifest(parse_name("test/original"))
    assert store.read_manifest(parse_name("test/copy")).digest == original.digest
    assert (await backend.show("test/copy")).modelfile == shown.replace("test/original", "test/copy")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM nosuch:model\n", 'Modelfile line 1: FROM nosuch:model: model "nosuch:model" not found — pull it first'),
        ("# a comment\nFROM ./missing.gguf\n", "Modelfile line 2: FROM ./missing.gguf: no such file or folder"),
        (f"FROM {BASE}\nADAPTER ./missing-lora.gguf\n", "Modelfile line 2: ADAPTER ./missing-lora.gguf: no such file"),
        ("FROM ./Modelfile.txt\n", "Modelfile line 1: FROM ./Modelfile.txt: not a GGUF model file"),
        ("FROM ../../etc/../x\n", "Modelfile line 1: FROM ../../etc/../x: no such file or folder"),
        (f"FROM {BASE}\nTEMPLATE {{{{ .Prompt \n", "Modelfile line 2, column 10: TEMPLATE does not parse"),
        (f"FROM {BASE}\nPARAMETER temperature hot\n", 'Modelfile line 2, column 23: PARAMETER temperature expects a number, got "hot"'),
    ],
)
def test_a_bad_modelfile_fails_at_create_with_its_line_and_writes_nothing(store, tmp_path, text, message):
    (tmp_path / "Modelfile.txt").write_text("not weights")
    with pytest.raises(ModelfileError) as caught:
        create(store, "test/bad", text, tmp_path)
    assert str(caught.value).startswith(message)
    assert not store.exists(parse_name("test/bad"))


async def test_parameters_a_request_beats_the_modelfile_which_beats_the_defaults(backend, store):
    create(store, "test/params", f"FROM {BASE}\nPARAMETER num_predict 3\nPARAMETER temperature 0\nPARAMETER top_k 9\n")
    record = backend.record("test/params")
    options = backend._options(record, {})
    assert (options.num_predict, options.temperature, options.top_k) == (3, 0.0, 9)
    assert options.top_p == PARAMETERS["top_p"].default  # not in the Modelfile: the default
    options = backend._options(record, {"num_predict": 6, "top_k": 2})
    assert (options.num_predict, options.temperature, options.top_k) == (6, 0.0, 2)

    prompt = [Message("user", "Count from one to twenty in words.")]
    _, final = await answer(backend, ChatRequest("test/params", prompt))
    assert final.done_reason == "length" and final.timings.eval_count == 3
    _, final = await answer(backend, ChatRequest("test/params", prompt, options={"num_predict": 6}))
    assert final.done_reason == "length" and final.timings.eval_count == 6


async def test_the_prompt_sent_to_the_model_holds_the_system_and_message_turns(backend, store, smollm2_gguf):
    create(store, "test/persona", f"FROM {BASE}\nSYSTEM You are a pirate.\nMESSAGE user Hello\n"
                                  "MESSAGE assistant Arr, ahoy!\n")
    record = backend.record("test/persona")
    prompt = render_prompt(record, with_persona(record, [Message("user", "Who are you?")]), bos="", eos="")
    expected = ("<|im_start|>system\nYou are a pirate.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
                "<|im_start|>assistant\nArr, ahoy!<|im_end|>\n<|im_start|>user\nWho are you?<|im_end|>\n"
                "<|im_start|>assistant\n")
    assert prompt == expected
    # What the model saw is that text: greedy answers to the chat and to the raw prompt agree.
    chat, _ = await answer(backend, ChatRequest("test/persona", [Message("user", "Who are you?")], options=GREEDY))
    raw, _ = await answer(backend, GenerateRequest(BASE, prompt=expected, raw=True, options=GREEDY))
    assert chat and chat == raw


async def test_a_go_template_replaces_the_ggufs_own(backend, store):
    gemma_turns = ("{{- range .Messages }}<start_of_turn>{{ if eq .Role \"assistant\" }}model{{ else }}{{ .Role }}"
                   "{{ end }}\n{{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n")
    create(store, "test/gemma-turns", f'FROM {BASE}\nTEMPLATE """{gemma_turns}"""\n')
    record = backend.record("test/gemma-turns")
    assert render_prompt(record, [Message("user", "Hi")], bos="", eos="") == (
        "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")
    text, final = await answer(backend, ChatRequest("test/gemma-turns", [Message("user", "Hi")], options=GREEDY))
    assert final.done and final.timings.eval_count > 0

    create(store, "test/chatml", f'FROM {BASE}\nTEMPLATE """{CHATML}"""\n')
    question = [Message("user", "Name a colour.")]
    ours, _ = await answer(backend, ChatRequest("test/chatml", question, options=GREEDY))
    theirs, _ = await answer(backend, ChatRequest(BASE, question, options=GREEDY))
    assert ours and ours == theirs


def _zero_lora(path: Path) -> Path:
    """A rank-1 LoRA for SmolLM2's first attention block whose B matrix is zero: it changes nothing."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", 1.0)
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.full((1, 576), 0.01, dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight.lora_b", np.zeros((576, 1), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


async def test_an_adapter_is_a_layer_and_is_applied_when_the_model_loads(backend, store, tmp_path):
    _zero_lora(tmp_path / "zero-lora.gguf")
    create(store, "test/adapter", f"FROM {BASE}\nADAPTER zero-lora.gguf\n", tmp_path)
    manifest = store.read_manifest(parse_name("test/adapter"))
    # the base's own layers (smollm2:135m's template) come along, as in Ollama
    assert [layer.media_type for layer in manifest.layers] == [MEDIA_MODEL, MEDIA_ADAPTER, MEDIA_TEMPLATE,
                                                               MEDIA_SYSTEM]
    assert "ADAPTER " + str(store.blobs) in (await backend.show("test/adapter")).modelfile
    question = [Message("user", "Name a colour.")]
    ours, _ = await answer(backend, ChatRequest("test/adapter", question, options=GREEDY))
    theirs, _ = await answer(backend, ChatRequest(BASE, question, options=GREEDY))
    assert ours == theirs
    assert any(r.name == "test/adapter:latest" for r in await backend.running())
    await backend.unload("test/adapter")


async def test_backend_create_streams_progress_and_reports_errors(backend, tmp_path):
    events = [e.status async for e in backend.create("test/via-backend", f"FROM {BASE}\nSYSTEM hi\n")]
    assert events[0] == "gathering model components" and events[-1] == "success"
    assert (await backend.show("test/via-backend")).system == "hi"
    with pytest.raises(ModelfileError):
        async for _ in backend.create("test/via-backend-bad", "FROM nothing-here\n", base_dir=str(tmp_path)):
            pass
    with pytest.raises(ModelNotFound):
        await backend.show("test/via-backend-bad")


def test_params_layer_is_plain_json_ollama_can_read(store):
    create(store, "test/json", f"FROM {BASE}\nPARAMETER stop a\nPARAMETER stop b\nPARAMETER num_ctx 1024\n")
    layer = store.read_manifest(parse_name("test/json")).layer(MEDIA_PARAMS)
    assert layer is not None
    assert json.loads(store.read_blob(layer.digest)) == {"num_ctx": 1024, "stop": ["a", "b"]}


def test_templates_sent_with_requests_render_one_at_a_time(store):
    import threading

    from ember.backend.errors import Cancelled
    from ember.backend.prompt import render

    record = load_record(store, BASE)
    hello = [Message("user", "Hi")]
    cancel, outcome = threading.Event(), {}

    def request_with_its_own_template() -> None:
        try:
            outcome["text"] = render_prompt(record, hello, bos="", eos="", template=CHATML, cancel=cancel)
        except Cancelled as exc:
            outcome["error"] = exc

    with render._REQUEST_TEMPLATES:  # another request's template is rendering
        waiting = threading.Thread(target=request_with_its_own_template)
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive() and not outcome  # it waits its turn
        assert "Hi" in render_prompt(record, hello, bos="", eos="")  # the model's own template never waits
        cancel.set()  # its client leaves while it waits
        waiting.join(5)
    assert isinstance(outcome.get("error"), Cancelled)
    assert render_prompt(record, hello, bos="", eos="", template=CHATML).startswith("<|im_start|>user\nHi")
