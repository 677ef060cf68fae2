"""vLLM's tokenizer endpoints (/tokenize, /detokenize, /tokenizer_info) over real HTTP, as lm-evaluation-
harness's remote tokenizer calls them, and the token ids they give scored through /v1/completions."""

from __future__ import annotations

import httpx
import ollama
import pytest

from tests.api.conftest import MODEL

TEXT = "The keeper trimmed the wick."


@pytest.mark.timeout(60)
def test_text_to_tokens_and_back(server: str, ollama_client: ollama.Client) -> None:
    reply = httpx.post(server + "/tokenize", json={"model": MODEL, "prompt": TEXT, "add_special_tokens": False},
                       timeout=60).json()
    read = list(ollama_client.generate(MODEL, TEXT, raw=True, options={"num_predict": 0}).context)
    assert reply["tokens"] == read and reply["count"] == len(read) and reply["max_model_len"] >= 2048
    back = httpx.post(server + "/detokenize", json={"model": MODEL, "tokens": reply["tokens"]}, timeout=60).json()
    assert back == {"prompt": TEXT}


@pytest.mark.timeout(60)
def test_tokenizer_info_names_the_end_token_which_is_one_token(server: str) -> None:
    info = httpx.get(server + "/tokenizer_info", params={"model": MODEL}, timeout=60).json()
    assert info["eos_token"] and "im_start" in info["chat_template"] and info["model_max_length"] >= 2048
    end = httpx.post(server + "/tokenize", json={"model": MODEL, "prompt": info["eos_token"],
                                                 "add_special_tokens": False}, timeout=60).json()
    assert end["count"] == 1


@pytest.mark.timeout(60)
def test_unknown_models_and_tokens_are_one_line_errors(server: str) -> None:
    missing = httpx.post(server + "/tokenize", json={"model": "nope:1b", "prompt": "x"}, timeout=60)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    bad = httpx.post(server + "/detokenize", json={"model": MODEL, "tokens": [10**9]}, timeout=60)
    assert bad.status_code == 400 and "\n" not in bad.json()["error"]
