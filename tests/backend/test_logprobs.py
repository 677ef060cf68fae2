"""Log probabilities from the sampler chain, on the real SmolLM2 model."""

from __future__ import annotations

import math

from ember.backend.parameters import Options

from tests.backend.test_engine import GREEDY, chat_tokens


def scored(runner, text: str, top: int, **options):  # type: ignore[no-untyped-def]
    chunks = list(runner.generate(chat_tokens(runner, text), Options.merge(GREEDY, options), top_logprobs=top))
    return "".join(c.text for c in chunks), [lp for c in chunks for lp in c.logprobs]


def test_every_generated_token_has_its_logprob_and_the_tokens_spell_the_answer(runner) -> None:
    text, logprobs = scored(runner, "Name a colour.", 3, num_predict=8)
    assert text and len(logprobs) == 8
    assert "".join(lp.token for lp in logprobs).startswith(text)
    for lp in logprobs:
        assert lp.logprob <= 0 and bytes(lp.bytes).decode("utf-8", "replace") == lp.token
        assert len(lp.top_logprobs) == 3
        values = [t.logprob for t in lp.top_logprobs]
        assert values == sorted(values, reverse=True) and sum(math.exp(v) for v in values) <= 1 + 1e-6
        # greedy picks the likeliest token, so it heads its own alternatives
        assert lp.top_logprobs[0].token == lp.token and math.isclose(values[0], lp.logprob, abs_tol=1e-5)


def test_scoring_does_not_change_what_is_generated(runner) -> None:
    plain = "".join(c.text for c in runner.generate(chat_tokens(runner, "Say hello."),
                                                       Options.merge(GREEDY, {"num_predict": 12})))
    text, _ = scored(runner, "Say hello.", 0, num_predict=12)
    assert text == plain


def test_the_probabilities_are_those_left_after_the_chain(runner) -> None:
    # top_k 1 leaves one candidate: whatever the model thought, the sampler was certain
    _, logprobs = scored(runner, "Name a colour.", 2, num_predict=4, temperature=0.8, top_k=1)
    assert [lp.logprob for lp in logprobs] == [0.0] * 4
    assert all(len(lp.top_logprobs) == 1 for lp in logprobs)


def test_without_logprobs_chunks_carry_none(runner) -> None:
    chunks = list(runner.generate(chat_tokens(runner, "Hi"), Options.merge(GREEDY, {"num_predict": 4})))
    assert all(not c.logprobs for c in chunks)
