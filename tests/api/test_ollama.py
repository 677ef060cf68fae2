"""Ollama's endpoints, driven by the official `ollama` Python client against the real server."""

from __future__ import annotations

import json

import httpx
import ollama
import pytest

from tests.api.conftest import MODEL, QUICK

TIMING_FIELDS = ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration",
                 "eval_count", "eval_duration")


def test_root_says_ollama_is_running_to_get_and_head(server: str) -> None:
    assert httpx.get(server + "/").text == "Ollama is running"
    assert httpx.head(server + "/").status_code == 200
    assert httpx.get(server + "/api/version").json()["version"]


def test_tags_lists_the_model_with_ollama_fields(ollama_client: ollama.Client) -> None:
    models = {m.model: m for m in ollama_client.list().models}
    entry = models[MODEL]
    assert entry.size > 50_000_000
    assert len(entry.digest) == 64
    assert entry.details.family == "llama" and entry.details.quantization_level == "Q4_1"
    assert entry.modified_at is not None


def test_show_describes_the_model(ollama_client: ollama.Client) -> None:
    shown = ollama_client.show(MODEL)
    assert "FROM " in shown.modelfile
    assert "im_start" in shown.template
    assert shown.modelinfo["general.architecture"] == "llama"
    assert "completion" in shown.capabilities
    assert shown.details.parameter_size == "134.52M"


def test_generate_streams_text_and_ends_with_timings_and_context(ollama_client: ollama.Client) -> None:
    parts = list(ollama_client.generate(MODEL, "Name a colour.", options=QUICK, stream=True))
    assert all(not p.done for p in parts[:-1]) and parts[-1].done
    assert "".join(p.response for p in parts).strip()
    last = parts[-1]
    assert last.done_reason in ("stop", "length")
    assert all(getattr(last, f) is not None for f in TIMING_FIELDS)
    assert last.eval_count >= 1 and last.total_duration > 0
    assert last.context and all(isinstance(t, int) for t in last.context)


def test_generate_without_streaming_matches_the_stream(ollama_client: ollama.Client) -> None:
    whole = ollama_client.generate(MODEL, "Name a colour.", options=QUICK)
    streamed = "".join(p.response for p in ollama_client.generate(MODEL, "Name a colour.", options=QUICK, stream=True))
    assert whole.done and whole.response == streamed
    assert whole.eval_count == QUICK["num_predict"] or whole.done_reason == "stop"


def test_generate_continues_from_context(ollama_client: ollama.Client) -> None:
    first = ollama_client.generate(MODEL, "My name is Ada.", options=QUICK)
    follow = ollama_client.generate(MODEL, "What is my name?", context=first.context, options=QUICK)
    assert len(follow.context) > len(first.context)
    assert follow.context[: len(first.context)] == first.context


def test_generate_accepts_system_template_raw_and_suffix(ollama_client: ollama.Client) -> None:
    answer = ollama_client.generate(MODEL, "Hello", system="Answer in French.", options=QUICK)
    assert answer.done
    raw = ollama_client.generate(MODEL, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", raw=True,
                                 options=QUICK)
    assert raw.response.strip()


def test_chat_streams_messages_and_ends_with_timings(ollama_client: ollama.Client) -> None:
    messages = [{"role": "user", "content": "Say hello."}]
    parts = list(ollama_client.chat(MODEL, messages=messages, options=QUICK, stream=True))
    assert parts[-1].done and parts[-1].message.role == "assistant"
    assert "".join(p.message.content for p in parts).strip()
    assert all(getattr(parts[-1], f) is not None for f in TIMING_FIELDS)
    whole = ollama_client.chat(MODEL, messages=messages, options=QUICK)
    assert whole.message.content == "".join(p.message.content for p in parts)


def test_chat_accepts_a_conversation_with_tool_results(ollama_client: ollama.Client) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "18 degrees and sunny", "tool_name": "weather"},
    ]
    assert ollama_client.chat(MODEL, messages=messages, options=QUICK).done


def test_empty_prompt_loads_and_keep_alive_zero_unloads(ollama_client: ollama.Client) -> None:
    loaded = ollama_client.generate(MODEL, "", keep_alive="10m")
    assert loaded.done and loaded.done_reason == "load"
    running = {m.model: m for m in ollama_client.ps().models}
    assert MODEL in running
    assert running[MODEL].size > 0 and running[MODEL].size_vram == 0 and running[MODEL].expires_at
    unloaded = ollama_client.chat(MODEL, messages=[], keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert MODEL not in {m.model for m in ollama_client.ps().models}
    ollama_client.generate(MODEL, "", keep_alive=-1)  # leave it resident for the rest of the session
    forever = {m.model: m for m in ollama_client.ps().models}[MODEL]
    assert forever.expires_at.year > 2200


def test_structured_output_json_parses(ollama_client: ollama.Client) -> None:
    answer = ollama_client.generate(MODEL, "Describe a cat as JSON.", format="json",
                                    options={"temperature": 0, "num_predict": 48})
    if answer.done_reason == "stop":
        assert isinstance(json.loads(answer.response), dict)
    else:
        assert answer.response.lstrip().startswith("{")


def test_structured_output_matches_a_schema(ollama_client: ollama.Client) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
                                                "age": {"type": "integer"}, "cat": {"type": "boolean"}},
              "required": ["name", "age", "cat"]}
    answer = ollama_client.chat(MODEL, messages=[{"role": "user", "content": "Invent a person."}], format=schema,
                                options={"temperature": 0, "num_predict": 64})
    data = json.loads(answer.message.content)
    assert set(data) == {"name", "age", "cat"}
    assert isinstance(data["name"], str) and isinstance(data["age"], int) and isinstance(data["cat"], bool)


def test_embed_returns_unit_vectors_for_a_text_or_a_list(ollama_client: ollama.Client) -> None:
    one = ollama_client.embed(MODEL, "The sky is blue.")
    assert len(one.embeddings) == 1 and len(one.embeddings[0]) == 576
    many = ollama_client.embed(MODEL, ["The sky is blue.", "Grass is green.", "The sky is blue."])
    assert len(many.embeddings) == 3
    for vector in many.embeddings:
        assert sum(v * v for v in vector) == pytest.approx(1.0, abs=1e-4)
    assert many.embeddings[0] == pytest.approx(one.embeddings[0], abs=1e-5)
    dot = sum(a * b for a, b in zip(many.embeddings[0], many.embeddings[1]))
    assert dot < 0.999
    short = ollama_client.embed(MODEL, "The sky is blue.", dimensions=64).embeddings[0]
    assert len(short) == 64 and sum(v * v for v in short) == pytest.approx(1.0, abs=1e-4)


def test_legacy_embeddings_endpoint(ollama_client: ollama.Client) -> None:
    vector = ollama_client.embeddings(MODEL, "The sky is blue.").embedding
    assert len(vector) == 576
    assert sum(v * v for v in vector) == pytest.approx(1.0, abs=1e-4)


def test_copy_create_and_delete_models(ollama_client: ollama.Client) -> None:
    ollama_client.copy(MODEL, "copied:test")
    assert "copied:test" in {m.model for m in ollama_client.list().models}
    ollama_client.delete("copied:test")
    assert "copied:test" not in {m.model for m in ollama_client.list().models}
    with pytest.raises(ollama.ResponseError) as missing:
        ollama_client.delete("copied:test")
    assert missing.value.status_code == 404


def test_create_from_json_fields_builds_a_persona(ollama_client: ollama.Client) -> None:
    events = list(ollama_client.create("pirate:test", from_=MODEL, system="You are a pirate.",
                                       parameters={"temperature": 0.2, "stop": ["<|im_end|>", "Arr"]},
                                       messages=[{"role": "user", "content": "Hi"},
                                                 {"role": "assistant", "content": "Ahoy!"}], stream=True))
    assert events[-1].status == "success"
    shown = ollama_client.show("pirate:test")
    assert "pirate" in shown.modelfile and "temperature" in shown.parameters
    assert shown.parameters.count("stop") == 2
    assert ollama_client.generate("pirate:test", "Hello", options=QUICK).done
    ollama_client.delete("pirate:test")


def test_create_from_modelfile_text(server: str) -> None:
    response = httpx.post(server + "/api/create", json={
        "model": "terse:test", "modelfile": f"FROM {MODEL}\nSYSTEM Be terse.\nPARAMETER temperature 0\n",
        "stream": False}, timeout=60)
    assert response.status_code == 200 and response.json()["status"] == "success"
    shown = httpx.post(server + "/api/show", json={"model": "terse:test"}).json()
    assert shown["system"] == "Be terse."
    assert httpx.request("DELETE", server + "/api/delete", json={"model": "terse:test"}).status_code == 200


def test_pull_streams_progress(ollama_client: ollama.Client) -> None:
    events = list(ollama_client.pull(MODEL, stream=True))
    assert events[0].status and events[-1].status == "success"
    sized = [e for e in events if e.total]
    assert sized and sized[-1].completed == sized[-1].total
    assert all(0 <= e.completed <= e.total for e in sized)


def test_push_is_refused_clearly(ollama_client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as refused:
        ollama_client.push(MODEL)
    assert refused.value.status_code == 400 and "not supported" in refused.value.error
