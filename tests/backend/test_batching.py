"""Several requests decoded together in one llama.cpp context, on the real SmolLM2 model."""

from __future__ import annotations

import threading
import time

import pytest
from ember.backend.engine.slots import Slot, pick_slot
from ember.backend.parameters import Options

from tests.backend.test_engine import GREEDY, chat_tokens

QUESTIONS = ["Name three colours.", "What is the capital of France?", "Count from 1 to 5.",
             "Say hello in Spanish.", "What is 2 + 2?"]


def run_alone(runner, question: str, num_predict: int) -> str:
    runner.forget()
    chunks = list(runner.generate(chat_tokens(runner, question), Options.merge(GREEDY, {"num_predict": num_predict})))
    return "".join(c.text for c in chunks)


class Stream(threading.Thread):
    """Consume one answer in its own thread, as a server request would."""

    def __init__(self, runner, question: str, num_predict: int, start: threading.Barrier | None = None,
                 cancel_after: int = 0) -> None:
        super().__init__(daemon=True)
        self.runner, self.question, self.num_predict = runner, question, num_predict
        self.start_barrier, self.cancel_after = start, cancel_after
        self.cancel = threading.Event()
        self.text, self.final, self.error = "", None, None

    def run(self) -> None:
        try:
            if self.start_barrier is not None:
                self.start_barrier.wait()
            tokens = chat_tokens(self.runner, self.question)
            options = Options.merge(GREEDY, {"num_predict": self.num_predict})
            for n, chunk in enumerate(self.runner.generate(tokens, options, cancel=self.cancel), 1):
                self.text += chunk.text
                if n == self.cancel_after:
                    self.cancel.set()
                if chunk.done:
                    self.final = chunk
        except BaseException as exc:  # reported by the test
            self.error = exc


def run_together(runner, questions: list[str], num_predict: int) -> list[Stream]:
    runner.forget()
    runner.loop.busiest = 0
    barrier = threading.Barrier(len(questions))
    streams = [Stream(runner, q, num_predict, barrier) for q in questions]
    for s in streams:
        s.start()
    for s in streams:
        s.join()
    assert all(s.error is None for s in streams), [s.error for s in streams]
    return streams


@pytest.mark.timeout(90)
def test_batched_output_equals_unbatched_output_at_temperature_zero(runner):
    alone = [run_alone(runner, q, 16) for q in QUESTIONS[:4]]
    together = run_together(runner, QUESTIONS[:4], 16)
    assert [s.text for s in together] == alone
    assert runner.loop.busiest == 4  # they really were decoded together


@pytest.mark.timeout(90)
def test_more_requests_than_slots_wait_for_a_free_slot(runner):
    assert runner.num_parallel < len(QUESTIONS)
    alone = [run_alone(runner, q, 8) for q in QUESTIONS]
    together = run_together(runner, QUESTIONS, 8)
    assert [s.text for s in together] == alone
    assert all(s.final.done_reason in ("stop", "length") for s in together)


@pytest.mark.timeout(90)
def test_cancelling_one_stream_frees_its_slot_while_the_others_continue(runner):
    runner.forget()
    long = [Stream(runner, "Write a very long story about dragons.", 48) for _ in range(runner.num_parallel)]
    long[0].cancel_after = 3
    for s in long:
        s.start()
    long[0].join(30)
    assert long[0].final.done_reason == "cancel"
    assert long[0].final.timings.eval_count <= 5
    late = Stream(runner, "What is 2 + 2?", 4)
    late.start()
    late.join(30)
    assert late.final is not None and late.final.timings.eval_count >= 1
    still_running = [s for s in long[1:] if s.is_alive()]
    assert still_running, "the freed slot served a new request while the other answers went on"
    for s in long[1:]:
        s.join()
        assert s.error is None
        assert s.final.done_reason in ("length", "stop")
    assert runner.loop.active() == 0


def test_a_closed_stream_releases_its_slot(runner):
    runner.forget()
    answer = runner.generate(chat_tokens(runner, "Write a long poem."), Options.merge(GREEDY, {"num_predict": 200}))
    next(answer)
    answer.close()
    deadline = time.monotonic() + 5
    while runner.loop.active() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.loop.active() == 0


@pytest.mark.timeout(90)
def test_each_conversation_keeps_its_own_cached_prefix(runner):
    runner.forget()
    options = Options.merge(GREEDY, {"num_predict": 8})

    def turn(history: list[int]) -> tuple[list[int], int]:
        final = list(runner.generate(history, options))[-1]
        return final.context, final.timings.prompt_evaluated

    a1 = chat_tokens(runner, "Tell me about apples.")
    b1 = chat_tokens(runner, "Tell me about boats.")
    a_ctx, _ = turn(a1)
    b_ctx, _ = turn(b1)
    follow = runner.tokenize("<|im_end|>\n<|im_start|>user\nMore.<|im_end|>\n<|im_start|>assistant\n",
                             add_special=False)
    _, a_new = turn(a_ctx + follow)
    _, b_new = turn(b_ctx + follow)
    assert a_new == len(follow)
    assert b_new == len(follow)


def test_a_conversation_goes_back_to_its_own_slot():
    system = [1, 2, 3, 4]
    mine = Slot(0, tokens=system + [10, 11, 12, 13, 14, 15])
    other = Slot(1, tokens=system + [20, 21, 22, 23, 24, 25])
    empty = Slot(2)
    assert pick_slot([other, empty, mine], system + [10, 11, 12, 13, 14, 15, 16]) is mine
    assert pick_slot([other, mine, empty], system + [30, 31]) is empty
    old = Slot(0, tokens=system + [9] * 8, last_used=1.0)
    recent = Slot(1, tokens=system + [8] * 8, last_used=2.0)
    assert pick_slot([recent, old], system + [7, 7, 7, 7, 7, 7]) is old


def test_the_same_question_asked_again_goes_back_to_the_slot_that_has_its_prompt():
    system, question = [1, 2, 3, 4], list(range(100, 140))
    answered = Slot(0, tokens=system + question + list(range(500, 800)))  # the question and a long answer
    empty = Slot(1)
    assert pick_slot([empty, answered], system + question) is answered  # a retry keeps the prompt's cache
    assert pick_slot([empty, answered], system + question[:-1] + [7]) is answered  # its last message edited
    assert pick_slot([empty, answered], system + [9] * 40) is empty  # another conversation


@pytest.mark.timeout(120)
def test_requests_arriving_a_moment_apart_at_an_idle_loop_start_in_the_same_step(runner):
    runner.forget()
    loop, steps, firsts = runner.loop, [0], {}
    real_step = loop._step

    def counted_step() -> None:
        steps[0] += 1
        real_step()

    class FirstChunk:
        """An outbox that notes the step in which its first chunk was put."""

        def __init__(self, name: str) -> None:
            self.name, self.done = name, threading.Event()

        def put(self, item) -> None:  # noqa: ANN001
            firsts.setdefault(self.name, steps[0])
            if isinstance(item, BaseException) or item.done:
                self.done.set()

    loop._step = counted_step
    try:
        outboxes = []
        for question in QUESTIONS[:3]:  # as a server hands them over: one by one, half a millisecond apart
            outboxes.append(FirstChunk(question))
            runner.start(chat_tokens(runner, question), Options.merge(GREEDY, {"num_predict": 4}), outboxes[-1])
            time.sleep(0.0005)
        assert all(box.done.wait(60) for box in outboxes)
    finally:
        del loop._step
    assert len(set(firsts.values())) == 1, firsts  # one step evaluated all three prompts: no one went first
