"""Answers with no length limit still end: after filling the context several times, or when they loop."""

from __future__ import annotations

import pytest
from ember.backend.engine import stops
from ember.backend.engine.stops import CHECK_EVERY, CONTEXT_FILLS, LOOP_SPAN, AnswerStops, LoopDetector
from ember.backend.parameters import Options
from ember.backend.wire import anthropic, openai, responses

from tests.backend.test_engine import chat_tokens

# --- the loop detector on token lists ----------------------------------------------------------


def fed(tokens: list[int]) -> int:
    """The number of tokens after which the detector fired, or 0 when it never did."""
    detector = LoopDetector()
    for i, token in enumerate(tokens, 1):
        if detector.feed(token):
            return i
    return 0


def soon_after(fired: int, exact: int) -> bool:
    """The detector looks every CHECK_EVERY tokens, so it fires at most that many tokens late."""
    return exact <= fired < exact + CHECK_EVERY


def test_one_token_repeated_fires_once_it_covers_the_span():
    detector = LoopDetector()
    assert not detector.feed_all([7] * (LOOP_SPAN - 1)) and not detector.looping()
    detector.feed(7)
    assert detector.looping()
    assert soon_after(fed([7] * (LOOP_SPAN + 20)), LOOP_SPAN)


def test_a_sentence_repeated_fires_after_the_span_whatever_came_before():
    sentence = list(range(100, 123))  # 23 tokens
    preamble = list(range(500, 541))
    fired = fed(preamble + sentence * 20)
    assert fired and soon_after(fired - len(preamble), LOOP_SPAN)


def test_a_long_cycle_needs_eight_repeats():
    cycle = list(range(1000, 1060))  # 60 tokens: 8 × 60 = 480 > the span
    almost = LoopDetector()
    assert not almost.feed_all(cycle * 7 + cycle[:59]) and not almost.looping()
    assert soon_after(fed(cycle * 9), 8 * 60)


def test_repetition_with_any_variation_never_fires():
    # A numbered list: the same shape over and over, but every line differs somewhere.
    lines = [[10, 11, 12, 1000 + n, 13, 14] for n in range(200)]
    assert fed([t for line in lines for t in line]) == 0
    # A cycle longer than the longest period the detector looks for.
    assert fed(list(range(2000, 2070)) * 12) == 0


def test_stops_apply_only_to_unlimited_answers():
    unlimited = AnswerStops(num_predict=-1, num_ctx=16)
    reasons = [unlimited.after(token, count) for count, token in enumerate(range(1, CONTEXT_FILLS * 16 + 1), 1)]
    assert reasons[-1] == "context" and not any(reasons[:-1])
    bounded = AnswerStops(num_predict=100_000, num_ctx=16)
    assert all(bounded.after(7, i) == "" for i in range(1, 1000))
    assert AnswerStops(num_predict=-2, num_ctx=16).fill_once


@pytest.mark.parametrize(("done_reason", "finish", "stop_reason", "incomplete"), [
    ("stop", "stop", None, None),
    ("length", "length", "max_tokens", "max_output_tokens"),
    ("context", "length", "model_context_window_exceeded", "max_output_tokens"),
    ("repetition", "length", "max_tokens", "max_output_tokens"),
])
def test_each_protocol_says_an_answer_was_cut_short(done_reason, finish, stop_reason, incomplete):
    assert openai.finish_reason(done_reason) == finish
    assert anthropic.cut_stop_reason(done_reason) == stop_reason
    details = responses.incomplete_details(done_reason)
    assert (details.reason if details else None) == incomplete


# --- the real model ----------------------------------------------------------------------------


TINY_CTX = 256  # the smallest context llama.cpp makes


@pytest.fixture(scope="module")
def tiny(smollm2_gguf):
    """SmolLM2 in the smallest context, one sequence, one thread (the fastest on a busy machine)."""
    from ember.backend.engine.runner import Runner

    loaded = Runner(smollm2_gguf, num_ctx=TINY_CTX, num_parallel=1, num_thread=1)
    assert loaded.num_ctx == TINY_CTX
    yield loaded
    loaded.close()


def run(runner, text: str, **options) -> tuple[str, object]:
    opts = Options.merge({"temperature": 0, "seed": 1, "num_ctx": TINY_CTX, "repeat_penalty": 1.0, **options})
    runner.forget()
    chunks = list(runner.generate(chat_tokens(runner, text), opts))
    assert chunks[-1].done
    return "".join(c.text for c in chunks), chunks[-1]


def test_an_unlimited_answer_stops_after_filling_its_context_several_times(tiny, monkeypatch):
    # Two fills show the answer runs on through a context shift and then stops, in half the time of
    # the shipped four (which the unit test above holds to).
    monkeypatch.setattr(stops, "CONTEXT_FILLS", 2)
    _, final = run(tiny, "Write a long essay about the sea.", num_predict=-1)
    assert final.done_reason == "context"
    assert final.timings.eval_count == 2 * TINY_CTX


def test_num_predict_minus_two_fills_the_context_once(tiny):
    _, final = run(tiny, "Write a long essay about the sea.", num_predict=-2)
    assert final.done_reason == "length"
    t = final.timings
    # The last token is sent but never evaluated, so prompt and answer hold one more than the context.
    assert t.prompt_eval_count + t.eval_count - 1 == tiny.num_ctx


def test_an_answer_that_loops_stops_with_repetition(tiny):
    text, final = run(tiny, "Write a poem about the sea.", num_predict=-1)
    assert final.done_reason == "repetition"
    assert LOOP_SPAN <= final.timings.eval_count < CONTEXT_FILLS * TINY_CTX
    last_line = text.rstrip().splitlines()[-1]
    assert text.count(last_line) >= 4  # what it stopped was saying the same thing again and again
