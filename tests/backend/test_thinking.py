"""The thinking splitter: `<think>` blocks and gpt-oss channels, whatever way the tokens cut the tags."""

from __future__ import annotations

import pytest
from ember.backend.engine.thinking import HarmonySplitter, ThinkTagSplitter, split_thinking
from ember.backend.types import Chunk, TokenLogprob


def run(splitter, pieces: list[str]) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    thinking, content = [], []
    for piece in pieces:
        t, c = splitter.feed(piece)
        thinking.append(t)
        content.append(c)
    t, c = splitter.flush()
    return "".join(thinking) + t, "".join(content) + c


def cuts(text: str) -> list[list[str]]:
    """`text` cut into one piece per character, into two at every point, and whole."""
    return [list(text), *([text[:i], text[i:]] for i in range(1, len(text))), [text]]


ANSWER = "<think>\nThe user says hi. I greet back.\n</think>\n\nHello there!"


@pytest.mark.parametrize("pieces", cuts(ANSWER))
def test_a_think_block_is_split_from_the_answer_wherever_the_tokens_cut_it(pieces: list[str]) -> None:
    assert run(ThinkTagSplitter(), pieces) == ("The user says hi. I greet back.", "Hello there!")


@pytest.mark.parametrize("pieces", cuts("Plan: greet.</think>Hi!"))
def test_the_template_may_write_the_opening_tag_itself(pieces: list[str]) -> None:
    assert run(ThinkTagSplitter(opened=True), pieces) == ("Plan: greet.", "Hi!")


def test_an_answer_that_does_not_open_with_the_tag_is_all_content() -> None:
    assert run(ThinkTagSplitter(), ["  Hello", " <think>x</think>"]) == ("", "  Hello <think>x</think>")
    assert run(ThinkTagSplitter(), ["<thin", "g>"]) == ("", "<thing>")


def test_thinking_that_never_closes_is_thinking_and_a_lone_tag_is_nothing() -> None:
    assert run(ThinkTagSplitter(), ["<think>", "still going ", " "]) == ("still going", "")
    assert run(ThinkTagSplitter(), ["<think>"]) == ("", "")
    assert run(ThinkTagSplitter(opened=True), ["</think>", "Hi"]) == ("", "Hi")


def test_thinking_streams_as_it_comes_and_holds_only_what_may_be_a_tag() -> None:
    splitter = ThinkTagSplitter()
    assert splitter.feed("<think>one") == ("one", "")
    assert splitter.feed(" two</") == (" two", "")
    assert splitter.feed("think>Answer") == ("", "Answer")


HARMONY = ("<|channel|>analysis<|message|>User greets. Reply.<|end|><|start|>assistant"
           "<|channel|>final<|message|>Hi!<|return|>")


@pytest.mark.parametrize("pieces", cuts(HARMONY)[::7])
def test_gpt_oss_channels_are_thinking_and_answer(pieces: list[str]) -> None:
    assert run(HarmonySplitter(), pieces) == ("User greets. Reply.", "Hi!")


def test_plain_text_from_a_channel_model_is_the_answer() -> None:
    assert run(HarmonySplitter(), ["Hello", " world"]) == ("", "Hello world")


def test_split_thinking_keeps_each_chunks_logprobs_and_the_last_chunk() -> None:
    lp = [TokenLogprob("x", -0.5)]
    chunks = [Chunk("<think>a"), Chunk("</think>", logprobs=lp), Chunk("b"),
              Chunk("", done=True, done_reason="stop")]
    out = list(split_thinking(iter(chunks), ThinkTagSplitter()))
    assert [(c.thinking, c.text) for c in out] == [("a", ""), ("", ""), ("", "b"), ("", "")]
    assert out[1].logprobs == lp and out[-1].done and out[-1].done_reason == "stop"


@pytest.mark.parametrize("pieces", cuts("<|channel|>analysis<|message|>Think.<|start|>assistant<|channel|>final"
                                         "<|message|>Done.")[::5])
def test_a_new_message_ends_the_analysis_even_without_its_end_marker(pieces: list[str]) -> None:
    assert run(HarmonySplitter(), pieces) == ("Think.", "Done.")
