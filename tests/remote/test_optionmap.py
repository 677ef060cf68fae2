"""ember's parameters as each engine's OpenAI-compatible request fields."""

from __future__ import annotations

import pytest
from ember.backend.remote.optionmap import map_options, why_ignored

PERSONA = {"temperature": 0.2, "top_p": 0.9, "num_predict": 64, "seed": 7, "stop": ("<|im_end|>",),
           "presence_penalty": 0.1, "frequency_penalty": 0.2, "top_k": 20, "min_p": 0.05,
           "repeat_penalty": 1.15, "num_ctx": 8192, "mirostat": 2}
STANDARD = {"temperature": 0.2, "top_p": 0.9, "max_tokens": 64, "seed": 7, "stop": ["<|im_end|>"],
            "presence_penalty": 0.1, "frequency_penalty": 0.2}


@pytest.mark.parametrize(("flavour", "extras", "ignored"), [
    ("vllm", {"top_k": 20, "min_p": 0.05, "repetition_penalty": 1.15}, ["num_ctx", "mirostat"]),
    ("sglang", {"top_k": 20, "min_p": 0.05, "repetition_penalty": 1.15}, ["num_ctx", "mirostat"]),
    ("llama.cpp", {"top_k": 20, "min_p": 0.05, "repeat_penalty": 1.15, "mirostat": 2}, ["num_ctx"]),
    ("llama-cpp-python", {"top_k": 20, "min_p": 0.05, "repeat_penalty": 1.15, "mirostat_mode": 2}, ["num_ctx"]),
    ("", {}, ["top_k", "min_p", "repeat_penalty", "num_ctx", "mirostat"]),  # a hosted API: standard fields only
])
def test_each_engine_gets_the_fields_it_takes_and_the_rest_are_named(flavour: str, extras: dict, ignored: list) -> None:
    mapped = map_options(PERSONA, flavour)
    assert mapped.fields == {**STANDARD, **extras}
    assert mapped.ignored == ignored


def test_defaults_that_mean_the_server_decides_are_left_out() -> None:
    assert map_options({"num_predict": -1, "seed": -1, "temperature": 0}).fields == {"temperature": 0}


def test_why_a_parameter_is_ignored_says_what_to_do() -> None:
    assert "set when the server starts" in why_ignored("num_ctx", "the server at http://gpu:8000/v1")
    assert "has no field for it" in why_ignored("mirostat", "the server at http://gpu:8000/v1 (vllm)")
