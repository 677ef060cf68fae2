"""What third-party clients tripped on when pointed at ember as if it were Ollama, each fixed and held here."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import anthropic
import httpx
import ollama
import openai
import pytest
from ember.backend import __version__
from ember.backend.wire.ollama import API_VERSION

from tests.api.conftest import MODEL, QUICK


def _post(server: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(server + path, json=body, timeout=120)


def test_options_ollama_accepts_are_taken(ollama_client: ollama.Client, caplog: pytest.LogCaptureFixture) -> None:
    retired = {"numa": False, "low_vram": False, "f16_kv": True, "vocab_only": False, "logits_all": False,
               "penalize_newline": True, "tfs_z": 1.0}
    applied = {"use_mmap": True, "use_mlock": False, "main_gpu": 0}
    with caplog.at_level(logging.WARNING, logger="ember.parameters"):
        answer = ollama_client.generate(MODEL, "Hello", options={**QUICK, **retired, **applied})
    assert answer.done and answer.response
    assert "tfs_z" in caplog.text and "no effect" in caplog.text


def test_a_misspelt_option_still_gets_did_you_mean(server: str) -> None:
    reply = _post(server, "/api/generate", {"model": MODEL, "prompt": "x", "options": {"use_mmapp": True}})
    assert reply.status_code == 400 and 'did you mean "use_mmap"' in reply.json()["error"]


def test_a_prompt_read_from_the_cache_still_counts_whole(ollama_client: ollama.Client, openai_client: openai.OpenAI,
                                                        server: str) -> None:
    # As Ollama counts since it took llama-server's counts: prompt_eval_count is the whole prompt, and
    # prompt_eval_cached_count (OpenAI's cached_tokens, Anthropic's cache_read_input_tokens) what the KV
    # cache held. Clients size a conversation's context by it; an app's context gauge does.
    messages = [{"role": "user", "content": "Name three rivers of Europe, with their lengths."}]
    first = ollama_client.chat(MODEL, messages=messages, options=QUICK)
    again = ollama_client.chat(MODEL, messages=messages, options=QUICK)
    assert first.prompt_eval_count == again.prompt_eval_count > 10
    assert _post(server, "/api/chat", {"model": MODEL, "messages": messages, "options": QUICK,
                                       "stream": False}).json()["prompt_eval_cached_count"] >= first.prompt_eval_count - 2
    usage = openai_client.chat.completions.create(model=MODEL, messages=messages, max_tokens=8, temperature=0,
                                                  seed=1).usage
    assert usage.prompt_tokens == first.prompt_eval_count
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens >= usage.prompt_tokens - 2
    claude = anthropic.Anthropic(base_url=server, api_key="unused", max_retries=0)
    counted = claude.messages.create(model=MODEL, max_tokens=8, messages=messages, extra_body={"temperature": 0}).usage
    assert counted.cache_read_input_tokens and counted.input_tokens + counted.cache_read_input_tokens > 10


def test_embedding_token_counts_are_reported(ollama_client: ollama.Client, openai_client: openai.OpenAI) -> None:
    one = ollama_client.embed(MODEL, "The sky is blue.")
    two = ollama_client.embed(MODEL, ["The sky is blue.", "The sky is blue."])
    assert one.prompt_eval_count > 0 and two.prompt_eval_count == 2 * one.prompt_eval_count
    usage = openai_client.embeddings.create(model=MODEL, input="The sky is blue.").usage
    assert usage.prompt_tokens == one.prompt_eval_count and usage.total_tokens == usage.prompt_tokens


@pytest.mark.parametrize("path, body", [
    ("/api/chat", {"messages": [{"role": "user", "content": "hi"}], "think": True}),
    ("/api/generate", {"prompt": "hi", "think": "high"}),
    ("/api/generate", {"prompt": "hi", "images": ["aGk="]}),
    ("/api/chat", {"messages": [{"role": "user", "content": "hi", "images": ["aGk="]}]}),
    ("/api/generate", {"prompt": "hi", "suffix": "bye"}),
])
def test_a_model_that_does_not_exist_is_404_whatever_it_is_asked(server: str, path: str, body: dict) -> None:
    reply = _post(server, path, {"model": "no-such-model", **body})
    assert reply.status_code == 404 and "no-such-model" in reply.json()["error"]


def test_think_on_a_model_that_cannot_think_is_400(server: str) -> None:
    reply = _post(server, "/api/chat", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "think": True})
    assert reply.status_code == 400 and reply.json()["error"] == f'"{MODEL}" does not support thinking'
    off = _post(server, "/api/chat", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}],
                                      "think": False, "stream": False, "options": QUICK})
    assert off.status_code == 200


def test_show_then_create_round_trips_a_gguf_jinja_template(ollama_client: ollama.Client, models_dir: Path,
                                                            smollm2_gguf: Path) -> None:
    from ember.backend.pull.register import register_gguf
    from ember.backend.store.modelstore import ModelStore
    from ember.backend.store.names import parse_name

    register_gguf(ModelStore(models_dir), parse_name("smollm2-gguf:test"), smollm2_gguf)  # no template layer
    shown = ollama_client.show("smollm2-gguf:test")
    assert "{%" in shown.template  # the GGUF's own Jinja template
    ollama_client.create("smollm2-roundtrip:test", from_="smollm2-gguf:test", template=shown.template,
                         system="Be terse.")
    try:
        again = ollama_client.show("smollm2-roundtrip:test")
        assert again.template == shown.template and "Be terse." in again.modelfile
        reply = ollama_client.chat("smollm2-roundtrip:test", messages=[{"role": "user", "content": "Hi"}],
                                   options=QUICK)
        assert reply.message.content
    finally:
        ollama_client.delete("smollm2-roundtrip:test")
        ollama_client.delete("smollm2-gguf:test")


def test_keep_alive_zero_unloads_the_embedding_instance_too(ollama_client: ollama.Client) -> None:
    ollama_client.embed(MODEL, "load the embeddings context")
    ollama_client.generate(MODEL, "Hi", options=QUICK)
    assert [m.model for m in ollama_client.ps().models] == [MODEL]
    ollama_client.generate(MODEL, "", keep_alive=0)
    assert ollama_client.ps().models == []


def test_truncate_false_refuses_a_prompt_longer_than_the_context(server: str) -> None:
    long_prompt = "word " * 5000  # more tokens than the default num_ctx of 4096
    for path, body in (("/api/generate", {"prompt": long_prompt}),
                       ("/api/chat", {"messages": [{"role": "user", "content": long_prompt}]})):
        reply = _post(server, path, {"model": MODEL, "truncate": False, "options": QUICK, **body})
        assert reply.status_code == 400, reply.text
        assert "truncate" in reply.json()["error"] and "num_ctx" in reply.json()["error"]


def test_suffix_needs_a_model_that_fills_in_the_middle(ollama_client: ollama.Client, server: str) -> None:
    refused = _post(server, "/api/generate", {"model": MODEL, "prompt": "def add(a, b):", "suffix": "return c"})
    assert refused.status_code == 400 and refused.json()["error"].startswith(f'"{MODEL}" does not support insert')
    fim = "<fim_prefix>{{ .Prompt }}<fim_suffix>{{ .Suffix }}<fim_middle>"
    ollama_client.create("smollm2-fim:test", from_=MODEL, template=fim)
    try:
        assert "insert" in ollama_client.show("smollm2-fim:test").capabilities
        filled = ollama_client.generate("smollm2-fim:test", "def add(a, b):\n", suffix="\n    return c\n",
                                        options=QUICK)
        assert filled.done and filled.prompt_eval_count > 10  # prompt and suffix both went in
    finally:
        ollama_client.delete("smollm2-fim:test")


def test_version_reports_the_ollama_api_version_and_embers(server: str) -> None:
    data = httpx.get(server + "/api/version", timeout=30).json()
    assert data == {"version": API_VERSION, "ember_version": __version__}
    assert tuple(int(part) for part in data["version"].split(".")) >= (0, 14, 0)


def test_ember_host_with_no_server_there_says_so_on_stderr(tmp_path: Path) -> None:
    env = {**os.environ, "EMBER_MODELS": str(tmp_path / "empty"), "EMBER_HOST": "http://127.0.0.1:9"}
    listed = subprocess.run([sys.executable, "-m", "tui", "list"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert listed.returncode == 0 and listed.stdout.startswith("NAME")
    assert listed.stderr == ("Note: no server answers at http://127.0.0.1:9 (EMBER_HOST); using the models "
                             "on this machine\n")
