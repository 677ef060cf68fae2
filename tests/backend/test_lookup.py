"""Prompt-lookup drafting: the same answers, in fewer steps, on the real SmolLM2 model."""

from __future__ import annotations

import queue

import pytest
from ember.backend.engine.lookup import Lookup, best_for, best_size
from ember.backend.engine.rowcost import FEWEST, MOST, PRIOR, RowCost, lone_costs
from ember.backend.parameters import Options
from ember.backend.prompt.grammar import grammar_for_format

from tests.backend.test_engine import GREEDY, chat_tokens

CODE = '''import json


def load_settings(path):
    with open(path) as handle:
        data = json.load(handle)
    settings = {}
    for key, value in data.items():
        settings[key.lower()] = value
    return settings


def save_settings(path, settings):
    with open(path, "w") as handle:
        json.dump(settings, handle, indent=2)
'''
EDIT = f"Add a docstring to each function:\n```python\n{CODE}```"
FREE = "Write a short story about a lighthouse keeper."
OFF = {"num_draft": 0}


@pytest.fixture(autouse=True)
def known_row_cost(runner):
    """These tests compare answers with drafts and without, so drafts must happen: the policy is held at
    the prior row cost rather than one this (possibly busy) machine measures."""
    measured = runner.loop.row_cost
    runner.loop.row_cost = RowCost(pinned=True)
    yield
    runner.loop.row_cost = measured


def generate(runner, question: str, **options) -> tuple[str, object]:
    runner.forget()
    chunks = list(runner.generate(chat_tokens(runner, question), Options.merge(GREEDY, options)))
    assert chunks[-1].done
    return "".join(c.text for c in chunks), chunks[-1]


def test_a_draft_is_what_followed_the_latest_earlier_occurrence_of_the_last_tokens():
    lookup = Lookup([1, 2, 3, 4, 5, 9, 9, 1, 2, 3, 4, 6, 7, 8, 1, 2, 3, 4], most=16)
    assert lookup.draft(3) == []  # before any draft or guess was right, it only guesses
    for _ in range(10):  # every draft right: the drafts grow to the room there is
        lookup.settle(3, 3)
    assert lookup.draft(3) == [6, 7, 8]  # the later of the two matches of 1 2 3 4
    for _ in range(20):  # every draft wrong at once: drafting stops
        lookup.settle(3, 0)
    assert lookup.draft(3) == []
    assert lookup.draft(0) == []
    assert Lookup([5, 6, 7, 8], most=16).draft(4) == []  # nothing repeats: nothing to draft


def test_draft_size_follows_how_often_drafts_are_right():
    assert best_size(30, 16) == 0  # free text: drafting would cost more than it saves
    assert 0 < best_size(90, 16) < best_size(99, 16) <= 16
    assert best_size(100, 5) == 5


def test_drafts_must_be_surer_to_pay_when_more_sequences_share_the_step():
    # a draft row slows every sequence in the step: at 80 % one stream drafts, four do not
    assert best_size(80, 16, 1) > 0 and best_size(80, 16, 4) == 0
    assert best_size(95, 16, 4) < best_size(95, 16, 2) < best_size(95, 16, 1)
    assert best_size(100, 5, 4) == 5  # drafts that are always right pay however many share


def test_what_a_row_costs_here_decides_whether_a_draft_pays():
    # on a CPU where batching gains little, a draft right 80 % of the time loses; where rows are cheap it pays
    assert best_size(80, 16, 1, 95) == 0 and best_size(80, 16, 1, 30) > 0
    assert best_size(60, 16, 1, 5) > 0  # a GPU: an extra row is nearly free, even a poor guess pays
    assert best_size(97, 16, 1, 95) > 0  # drafts that are nearly always right pay even so


def test_a_lone_answer_drafts_by_what_steps_cost_on_a_cpu():
    costs = lone_costs(16)
    assert costs[:4] == (100, 200, 240, 280)  # two rows leave the one-row kernels: a whole step more
    assert best_for(75, 1, costs) == 0  # right three times in four (free text at best): no draft pays
    assert best_for(95, 1, costs) > 3  # a copy: long drafts pay
    lookup = Lookup([1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4], most=16)
    assert lookup.draft(4) == []  # no costs given and alone: the table, and no evidence yet


def test_the_row_cost_is_learnt_from_the_fastest_steps_of_each_size():
    cost = RowCost()
    cost.observe(4, 0.034)  # no one-row step seen yet: nothing to compare with
    assert cost.share == PRIOR
    for step in range(50):
        stalled = 3.0 if step % 3 == 0 else 1.0  # a server reading a request meanwhile: a step takes longer
        cost.observe(1, 0.010 * stalled)
        cost.observe(4, 0.010 * (1 + 3 * 0.8))  # each further row costs 0.8 of a one-row step
    assert abs(cost.single - 0.010) < 1e-3 and abs(cost.share - 0.8) < 0.05
    for _ in range(300):  # the context deepens: every step slower, rows as dear as before
        cost.observe(1, 0.020)
        cost.observe(4, 0.020 * (1 + 3 * 0.8))
    assert abs(cost.single - 0.020) < 1e-3 and abs(cost.share - 0.8) < 0.05
    for _ in range(300):
        cost.observe(3, 0.5)  # never dearer than a step of its own
    assert cost.share == MOST
    cheap = RowCost()
    cheap.observe(1, 0.010)
    cheap.observe(8, 0.010)  # a GPU: more rows take no longer; never counted free
    assert cheap.share == FEWEST
    pinned = RowCost(pinned=True)
    pinned.observe(1, 0.01)
    pinned.observe(2, 0.03)
    assert (pinned.share, pinned.single) == (PRIOR, 0.0)
    assert pinned.steps(1, 3) == (100, 160, 220, 280)  # the prior, a row at a time


def test_the_policy_drafts_by_what_steps_of_each_size_cost_here():
    cost = RowCost()
    for rows, ms in {1: 7.7, 2: 14.0, 4: 18.0, 5: 25.5}.items():  # measured on a 2-core CPU
        cost.observe(rows, ms / 1000)
    one, four = cost.steps(1, 3), cost.steps(4, 2)
    assert one[:2] == (100, 182) and one[2] > one[1]  # 3 rows unseen: 2 rows plus the mean share of a row
    assert four[:2] == (234, 331)  # from 4 rows to 5 a row costs nearly a whole step
    assert best_for(90, 4, four) == 0 and best_for(97, 1, one) > 0
    gpu = RowCost()
    for rows in (1, 2, 4, 8):
        gpu.observe(rows, 0.004)
    assert best_for(70, 4, gpu.steps(4, 8)) > 0  # rows nearly free: even a poor guess pays


@pytest.mark.timeout(240)
def test_an_edit_of_code_is_the_same_with_drafts_and_most_drafts_are_accepted(runner):
    plain, plain_final = generate(runner, EDIT, num_predict=48, **OFF)
    drafted, final = generate(runner, EDIT, num_predict=48)
    assert drafted == plain and "def load_settings" in drafted
    assert plain_final.timings.draft_count == 0
    assert final.timings.eval_count == plain_final.timings.eval_count
    assert final.timings.draft_accepted > final.timings.draft_count / 2 > 0
    assert final.context == plain_final.context  # the cache holds the answer, not the rejected drafts


@pytest.mark.timeout(240)
def test_free_text_is_the_same_with_drafting_on(runner):
    plain, _ = generate(runner, FREE, num_predict=48, **OFF)
    drafted, final = generate(runner, FREE, num_predict=48)
    assert drafted == plain
    assert final.timings.draft_accepted <= final.timings.draft_count


@pytest.mark.timeout(240)
def test_seeded_sampling_gives_the_same_answer_with_drafts(runner):
    # a sampled answer differs from one CPU's float rounding to another's, and one that wanders from the code
    # drafts nothing: three seeds, each the same with drafts and without, and drafts in some
    drafts = 0
    for seed in (11, 12, 13):
        sampled = {"temperature": 0.5, "top_k": 0, "top_p": 1.0, "seed": seed, "num_predict": 40}
        plain, _ = generate(runner, EDIT, **sampled, **OFF)
        drafted, final = generate(runner, EDIT, **sampled)
        assert drafted == plain, seed
        drafts += final.timings.draft_count
    assert drafts > 0


@pytest.mark.timeout(240)
def test_a_grammar_and_logprobs_stay_exact_with_drafts(runner):
    grammar = grammar_for_format({"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]})
    question = f"Return this code as JSON with the key code:\n{CODE}"

    def answer(**options) -> tuple[str, list, object]:
        runner.forget()
        chunks = list(runner.generate(chat_tokens(runner, question), Options.merge(GREEDY, {"num_predict": 40},
                                      options), grammar=grammar, top_logprobs=2))
        return "".join(c.text for c in chunks), [lp for c in chunks for lp in c.logprobs], chunks[-1]

    plain, plain_logprobs, _ = answer(**OFF)
    drafted, drafted_logprobs, final = answer()
    assert drafted == plain and plain.startswith("{")
    assert drafted_logprobs == plain_logprobs and len(drafted_logprobs) == final.timings.eval_count


@pytest.mark.timeout(300)
def answers_admitted_together(runner, questions: list[str], **options) -> list[tuple[str, object]]:
    """The answers to `questions` decoded in one batch, all admitted in the same step (they are queued while
    the loop's wake-up lock is held), so two runs see the same batches wherever drafting leaves them alike."""
    runner.forget()
    runner.loop.busiest = 0
    prompts = [chat_tokens(runner, q) for q in questions]
    outs = [queue.SimpleQueue() for _ in prompts]
    with runner.loop._wake:
        for prompt, out in zip(prompts, outs):
            runner.start(prompt, Options.merge(GREEDY, {"num_predict": 32, **options}), out)
    results = []
    for out in outs:
        chunks = []
        while not chunks or not chunks[-1].done:
            item = out.get(timeout=60)
            assert not isinstance(item, BaseException), item
            chunks.append(item)
        results.append(("".join(c.text for c in chunks), chunks[-1]))
    return results


def test_concurrent_answers_with_drafts_equal_the_same_batch_without(runner):
    # Batching itself may round floats differently from a request alone (llama.cpp is not batch-invariant),
    # so a near tie can differ between alone and batched, drafts or not: compare batch with batch.
    questions = [EDIT, FREE, EDIT.replace("docstring", "comment"), "Name three colours."]
    without = answers_admitted_together(runner, questions, **OFF)
    drafted = answers_admitted_together(runner, questions)  # default options: drafting on
    assert [text for text, _ in drafted] == [text for text, _ in without]
    assert runner.loop.busiest == len(questions)
    assert drafted[0][1].timings.draft_accepted > 0


@pytest.mark.timeout(240)
def test_the_loop_measures_what_a_row_costs_as_it_decodes(runner):
    runner.loop.row_cost = RowCost()
    generate(runner, FREE, num_predict=16, **OFF)  # one-row steps
    answers_admitted_together(runner, [FREE, EDIT], **OFF)  # two-row steps
    measured = runner.loop.row_cost
    assert measured.single > 0 and measured.share != PRIOR and FEWEST <= measured.share <= MOST
