"""An answer with no length limit that loops ends, and each protocol says it was cut short."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.api.conftest import MODEL

LOOPS = "smollm2-loops:test"
POEM = [{"role": "user", "content": "Write a poem about the sea."}]  # SmolLM2 repeats one stanza


@pytest.fixture(scope="module")
def loops(ollama_client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """SmolLM2 without its repeat penalty, greedy: the setting in which it falls into a loop (one thread:
    the quickest on a busy machine)."""
    ollama_client.create(LOOPS, from_=MODEL, parameters={"repeat_penalty": 1.0, "temperature": 0, "seed": 1,
                                                      "num_thread": 1})
    yield LOOPS
    ollama_client.delete(LOOPS)


@pytest.mark.timeout(300)
def test_a_looping_answer_ends_with_repetition_and_v1_reports_it_cut_short(ollama_client, openai_client: openai.OpenAI,
                                                                      loops: str) -> None:  # type: ignore[no-untyped-def]
    native = ollama_client.chat(model=loops, messages=POEM)
    assert native.done_reason == "repetition"
    assert 256 <= native.eval_count < 4 * 4096
    reply = openai_client.chat.completions.create(model=loops, messages=POEM)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == native.eval_count  # the same greedy answer, stopped at the same token
    response = openai_client.responses.create(model=loops, input=POEM[0]["content"])
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
    assert response.usage.output_tokens == native.eval_count
