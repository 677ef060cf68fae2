"""More conversations stay cached than there are slots: a slot's prompt is saved in host memory when
another conversation takes the slot, and put back when it is continued (the real SmolLM2 model)."""

from __future__ import annotations

import pytest
from ember.backend.parameters import Options

from tests.backend.test_engine import GREEDY, chat_tokens

pytestmark = pytest.mark.timeout(120)
TOPICS = ["apples", "boats", "castles", "deserts", "engines", "forests"]


def answer(runner, prompt: list[int]):  # type: ignore[no-untyped-def]
    chunks = list(runner.generate(prompt, Options.merge(GREEDY, {"num_predict": 12, "num_draft": 0})))
    return "".join(c.text for c in chunks), chunks[-1]


def test_a_conversation_evicted_from_its_slot_comes_back_from_host_memory(runner) -> None:
    runner.forget()
    prompts = [chat_tokens(runner, f"Tell me a short fact about {topic}.") for topic in TOPICS]
    first, _ = answer(runner, prompts[0])
    for prompt in prompts[1:]:  # more conversations than slots: the first one's slot goes to another
        answer(runner, prompt)
    assert len(runner.loop.slots) < len(prompts) and runner.loop.cache.saved
    assert all(slot.tokens[: len(prompts[0])] != prompts[0] for slot in runner.loop.slots)
    again, final = answer(runner, prompts[0])
    assert final.timings.prompt_eval_cached_count == len(prompts[0]) - 1  # all but the token that makes logits
    assert again == first  # the same greedy answer as with its prompt evaluated


def test_the_saved_prompts_stay_within_their_budget(runner) -> None:
    runner.forget()
    cache = runner.loop.cache
    budget = cache.budget
    try:
        cache.budget = 0
        for topic in TOPICS:
            answer(runner, chat_tokens(runner, f"Tell me a short fact about {topic}."))
        assert not cache.saved
        cache.budget = budget
        for topic in TOPICS:
            answer(runner, chat_tokens(runner, f"Name a colour of {topic}."))
        largest = max(entry.size for entry in cache.saved)
        cache.budget = 2 * largest
        for topic in TOPICS:
            answer(runner, chat_tokens(runner, f"Count the {topic}."))
        assert 1 <= len(cache.saved) <= 2 and cache.size <= cache.budget
    finally:
        cache.budget = budget
        runner.forget()


def test_a_prompt_put_back_leaves_its_buffer_for_the_next_save_and_answers_the_same_from_it(runner) -> None:
    runner.forget()
    cache = runner.loop.cache
    prompts = [chat_tokens(runner, f"Tell me a short fact about {topic}.") for topic in TOPICS]
    first = [answer(runner, prompt)[0] for prompt in prompts]  # six conversations, four slots: two saved
    entry = next(e for e in cache.saved if e.tokens[: len(prompts[0])] == prompts[0])
    buffer = entry.state
    assert answer(runner, prompts[0])[0] == first[0]  # put back into a slot: its buffer is free again
    assert any(kept is buffer for kept in cache.spare)
    answer(runner, chat_tokens(runner, "Tell me a short fact about glaciers."))  # another slot is saved
    reused = next(e for e in cache.saved if e.state is buffer)  # into that buffer, not fresh memory
    assert reused.used <= len(buffer) and not any(kept is buffer for kept in cache.spare)
    again = next(i for i, prompt in enumerate(prompts) if reused.tokens[: len(prompt)] == prompt)
    text, final = answer(runner, prompts[again])  # back out of the reused buffer
    assert final.timings.prompt_eval_cached_count == len(prompts[again]) - 1 and text == first[again]
    runner.forget()
    assert not cache.spare


def test_forgetting_empties_the_saved_prompts(runner) -> None:
    for topic in TOPICS:
        answer(runner, chat_tokens(runner, f"Describe {topic} in a word."))
    assert runner.loop.cache.saved
    runner.forget()
    assert not runner.loop.cache.saved


SYSTEM = ("You are the harbour's assistant. " + " ".join(
    f"Rule {i}: answer about boats, tides and the lighthouse, briefly and plainly." for i in range(12)))


def _with_system(runner, question: str) -> list[int]:  # type: ignore[no-untyped-def]
    from ember.backend.prompt.jinja import render_chat
    from ember.backend.store.ggufmeta import read_gguf_meta
    from ember.backend.types import Message

    text = render_chat(read_gguf_meta(runner.path).chat_template, [Message("system", SYSTEM), Message("user", question)])
    return runner.tokenize(text, add_special=False)


def test_a_prompt_another_slot_starts_copies_that_slots_cache_and_answers_as_if_evaluated(runner) -> None:
    import threading

    from ember.backend.engine.slots import common_prefix

    runner.forget()
    busy, other = _with_system(runner, "Tell me a long story about the tides."), _with_system(runner, "When is high tide?")
    shared = common_prefix(busy, other)
    assert shared > 100
    started = threading.Event()

    def long_answer() -> None:
        for _ in runner.generate(busy, Options.merge(GREEDY, {"num_predict": 120, "num_draft": 0})):
            started.set()

    thread = threading.Thread(target=long_answer)
    thread.start()
    try:
        assert started.wait(60)  # its slot is busy: the next prompt gets another, empty one
        copied, final = answer(runner, other)
    finally:
        thread.join(60)
    assert final.timings.prompt_eval_cached_count == shared  # the shared start was copied, not evaluated
    # the answer its own slot gives when it holds that start (llama.cpp's prompt batches round otherwise
    # than one batch of the whole prompt would: a cached start never gives quite the fresh answer)
    runner.forget()
    answer(runner, other[:shared])
    own, reused = answer(runner, other)
    assert reused.timings.prompt_eval_cached_count == shared
    assert copied == own


def test_the_same_long_prompt_sent_twice_at_once_is_evaluated_once(runner) -> None:
    import queue
    import threading

    runner.forget()
    prompt = _with_system(runner, "Name three kinds of boat.")
    streaming = threading.Event()

    def unrelated() -> None:  # keeps the loop stepping while the two prompts arrive
        for _ in runner.generate(chat_tokens(runner, "Tell me a long story about a lighthouse."),
                                 Options.merge(GREEDY, {"num_predict": 60, "num_draft": 0})):
            streaming.set()

    thread = threading.Thread(target=unrelated)
    thread.start()
    assert streaming.wait(60)
    answers: list[queue.SimpleQueue] = [queue.SimpleQueue(), queue.SimpleQueue()]
    options = Options.merge(GREEDY, {"num_predict": 6, "num_draft": 0})
    with runner.loop._wake:  # the loop admits under this lock: both prompts are waiting at its next admission
        for answer_queue in answers:
            runner.start(prompt, options, answer_queue)
    finals = []
    for answer_queue in answers:
        while not (chunk := answer_queue.get(timeout=60)).done:
            pass
        finals.append(chunk)
    thread.join(60)
    cached = sorted(final.timings.prompt_eval_cached_count for final in finals)
    assert cached == [0, len(prompt) - 1]  # the second waited for the first's prompt, then copied it
