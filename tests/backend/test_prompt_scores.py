"""A prompt's own log probabilities (promptscores), on the real SmolLM2 model."""

from __future__ import annotations

import math
import queue

import pytest
from ember.backend.engine.promptscores import rows_for
from ember.backend.engine.sharing import COPY_GAIN
from ember.backend.parameters import Options
from ember.backend.types import Chunk

from tests.backend.test_engine import GREEDY, chat_tokens

PLAIN = {**GREEDY, "repeat_penalty": 1.0}


def _scored(runner, prompt: list[int], top: int = 0, **options) -> tuple[Chunk, list[Chunk]]:  # type: ignore[no-untyped-def]
    chunks = list(runner.generate(prompt, Options.merge(PLAIN, options), top_logprobs=top, score_prompt=True))
    heads = [c for c in chunks if c.prompt_logprobs is not None]
    assert len(heads) == 1 and chunks.index(heads[0]) == 0  # once, ahead of the answer's text
    return heads[0], chunks


@pytest.mark.timeout(120)
def test_every_prompt_token_after_the_first_is_scored_with_its_alternatives(runner) -> None:
    prompt = runner.tokenize("The keeper climbed the stairs and trimmed the wick.", add_special=False)
    head, chunks = _scored(runner, prompt, top=3, num_predict=2)
    scores = head.prompt_logprobs
    assert scores is not None and len(scores.rest) == len(prompt) - 1
    assert bytes(scores.first_bytes) == runner.piece_bytes(prompt[0])
    assert [bytes(lp.bytes) for lp in scores.rest] == [runner.piece_bytes(t) for t in prompt[1:]]
    for lp in scores.rest:
        values = [t.logprob for t in lp.top_logprobs]
        assert lp.logprob <= 0 and len(values) == 3 and values == sorted(values, reverse=True)
        assert values[0] >= lp.logprob - 1e-9  # nothing is likelier than the likeliest
    assert chunks[-1].done and chunks[-1].timings.eval_count == 2


@pytest.mark.timeout(120)
def test_an_answer_scored_as_a_prompt_has_the_logprobs_it_was_generated_with(runner) -> None:
    # greedy without penalties samples from the model's own distribution: the answer's logprobs are the
    # model's, so scoring prompt + answer must give the same numbers (one batch rounds a little otherwise)
    prompt = chat_tokens(runner, "Name three colours.")
    generated = list(runner.generate(prompt, Options.merge(PLAIN, {"num_predict": 12}), top_logprobs=1))
    answer = [lp for c in generated for lp in c.logprobs]
    tokens = generated[-1].context  # what the sequence evaluated: the last token sampled is not among them
    assert tokens is not None and len(tokens) == len(prompt) + len(answer) - 1
    head, _ = _scored(runner, tokens, top=1, num_predict=0)
    scores = head.prompt_logprobs
    assert scores is not None
    again = scores.rest[len(prompt) - 1:]
    assert [lp.token for lp in again] == [lp.token for lp in answer[:-1]]
    for was, now in zip(answer[:-1], again, strict=True):
        assert math.isclose(was.logprob, now.logprob, abs_tol=0.05)
        assert now.top_logprobs[0].token == now.token  # greedy chose the likeliest


@pytest.mark.timeout(120)
def test_a_cached_prompt_is_scored_whole_and_its_answer_is_unchanged(runner) -> None:
    prompt = chat_tokens(runner, "Say hello.")
    runner.forget()  # both evaluate the whole prompt, from the same cells
    plain = "".join(c.text for c in runner.generate(prompt, Options.merge(PLAIN, {"num_predict": 8})))
    head, chunks = _scored(runner, prompt, num_predict=8)  # the slot holds this prompt: no rows are skipped
    assert head.prompt_logprobs is not None and len(head.prompt_logprobs.rest) == len(prompt) - 1
    assert chunks[-1].timings.prompt_eval_cached_count == 0
    assert "".join(c.text for c in chunks) == plain


@pytest.mark.timeout(180)
def test_a_prompt_longer_than_a_step_is_scored_across_steps_in_order(runner) -> None:
    passage = runner.tokenize(
        "Marta sold umbrellas near the harbour, and on dry days she repaired clocks instead. Her brother kept "
        "bees on the roof of the old cinema; the honey tasted faintly of popcorn, or so the children claimed. "
        "In winter the ferry stopped at noon, so the baker walked across the frozen bay with bread on a sled. "
        "Nobody remembered who had painted the lighthouse green, but everyone agreed it had been a mistake. "
        "The mayor collected maps of places that did not exist and lent them to travellers who asked politely.",
        add_special=False)
    prompt = passage + passage + passage  # the later copies are predictable from the first, row for row
    assert len(prompt) > rows_for(runner.n_vocab)  # more rows than one step scores
    head, _ = _scored(runner, prompt, num_predict=0)
    scores = head.prompt_logprobs
    assert scores is not None and len(scores.rest) == len(prompt) - 1
    values = [lp.logprob for lp in scores.rest]
    assert all(math.isfinite(v) and v <= 0 for v in values)
    first, second = values[: len(passage) - 1], values[len(passage) + 5:]  # past the first step's rows too
    # a row scored against the wrong token would make the copy as surprising as the original
    assert sum(second) / len(second) > -0.5 > -2 > sum(first) / len(first)


@pytest.mark.timeout(180)
def test_steps_of_a_few_rows_score_as_steps_of_many(runner, monkeypatch: pytest.MonkeyPatch) -> None:
    prompt = runner.tokenize("Nobody remembered who had painted the lighthouse green, but everyone agreed it had "
                             "been a mistake; the mayor blamed the gulls.", add_special=False)
    whole, _ = _scored(runner, prompt, num_predict=0)
    monkeypatch.setattr("ember.backend.engine.batch.rows_for", lambda _n_vocab: 5)  # a boundary every 5 rows
    runner.forget()  # else the slot's scores of this very prompt would be reused
    stepped, chunks = _scored(runner, prompt, num_predict=0)
    assert chunks[-1].timings.prompt_eval_cached_count == 0
    assert whole.prompt_logprobs is not None and stepped.prompt_logprobs is not None
    for a, b in zip(whole.prompt_logprobs.rest, stepped.prompt_logprobs.rest, strict=True):
        assert a.token == b.token and math.isclose(a.logprob, b.logprob, abs_tol=0.05)


@pytest.mark.timeout(180)
def test_answers_to_one_question_reuse_its_scored_start_and_score_as_if_alone(runner) -> None:
    question = runner.tokenize("Question: which of these is a colour? Answer:", add_special=False)
    choices = [runner.tokenize(" blue sky", add_special=False), runner.tokenize(" a loud bicycle", add_special=False)]
    runner.forget()
    first, _ = _scored(runner, question + choices[0], top=2, num_predict=1)
    second, chunks = _scored(runner, question + choices[1], top=2, num_predict=1)
    reused = chunks[-1].timings.prompt_eval_cached_count
    assert len(question) - 1 <= reused < len(question) + 1  # the question's cache and its scores, not the answer's
    runner.forget()
    alone, chunks = _scored(runner, question + choices[1], top=2, num_predict=1)
    assert chunks[-1].timings.prompt_eval_cached_count == 0
    assert first.prompt_logprobs is not None and second.prompt_logprobs is not None
    assert alone.prompt_logprobs is not None
    for a, b in zip(second.prompt_logprobs.rest, alone.prompt_logprobs.rest, strict=True):
        assert a.token == b.token and math.isclose(a.logprob, b.logprob, abs_tol=0.05)
        assert [t.token for t in a.top_logprobs][:1] == [t.token for t in b.top_logprobs][:1]
    asked_fewer, _ = _scored(runner, question + choices[0], top=1, num_predict=1)  # fewer alternatives: reused, cut
    assert asked_fewer.prompt_logprobs is not None
    assert all(len(lp.top_logprobs) == 1 for lp in asked_fewer.prompt_logprobs.rest)


@pytest.mark.timeout(180)
def test_an_answer_beside_a_busy_slot_copies_its_scored_question_and_scores_as_a_reused_start_does(runner) -> None:
    question = runner.tokenize("Question: " + " ".join(f"Note {i}: the keeper trimmed the wick." for i in range(12))
                               + " Which of these is a colour? Answer:", add_special=False)
    choices = [runner.tokenize(" blue sky", add_special=False), runner.tokenize(" a loud bicycle", add_special=False)]
    assert len(question) > COPY_GAIN + 1
    runner.forget()
    answers = [queue.SimpleQueue[Chunk | BaseException]() for _ in choices]
    for choice, out, answer in zip(choices, answers, (8, 1), strict=True):  # the first's slot still answering:
        # the second takes another slot and copies the first's scored start
        runner.start(question + choice, Options.merge(PLAIN, {"num_predict": answer}), out, top_logprobs=2,
                     score_prompt=True)
    together = [_drain(out) for out in answers]
    cached = [chunks[-1].timings.prompt_eval_cached_count for chunks in together]
    assert sorted(cached)[0] == 0 and len(question) - 1 <= sorted(cached)[1] <= len(question)
    first = cached.index(0)  # scored whole: as if alone; the other copied its start: as if it reused its own
    runner.forget()
    alone, _ = _scored(runner, question + choices[first], top=2, num_predict=1)
    reused, _ = _scored(runner, question + choices[1 - first], top=2, num_predict=1)
    for copied, expected in ((together[first][0], alone), (together[1 - first][0], reused)):
        assert copied.prompt_logprobs is not None and expected.prompt_logprobs is not None
        for a, b in zip(copied.prompt_logprobs.rest, expected.prompt_logprobs.rest, strict=True):
            assert a.token == b.token and math.isclose(a.logprob, b.logprob, abs_tol=0.05)


@pytest.mark.timeout(180)
def test_answers_to_one_question_waiting_together_score_the_question_once(runner) -> None:
    question = runner.tokenize("Question: " + " ".join(f"Note {i}: the keeper logged the rain." for i in range(12))
                               + " Which of these is wet? Answer:", add_special=False)
    runner.forget()
    answers = [queue.SimpleQueue[Chunk | BaseException]() for _ in range(3)]
    with runner.loop._wake:  # the loop admits under this lock: all three wait at its next admission
        for choice, out in zip((" the sea", " a dry stone", " rain"), answers, strict=True):
            runner.start(question + runner.tokenize(choice, add_special=False), Options.merge(PLAIN, {"num_predict": 1}),
                         out, top_logprobs=1, score_prompt=True)
    cached = sorted(_drain(out)[-1].timings.prompt_eval_cached_count for out in answers)
    assert cached[0] == 0 and all(len(question) - 1 <= count <= len(question) for count in cached[1:])


def _drain(out: queue.SimpleQueue[Chunk | BaseException]) -> list[Chunk]:
    chunks: list[Chunk] = []
    while not chunks or not chunks[-1].done:
        item = out.get(timeout=120)
        assert not isinstance(item, BaseException), item
        chunks.append(item)
    return chunks
