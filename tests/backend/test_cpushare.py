"""Fewer threads while other processes keep the cores busy: the policy, then the real model beside a real
busy process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from ember.backend.engine.cpushare import (
    IDLE,
    LOOK_EVERY,
    SLOW,
    CpuUse,
    ThreadShare,
    default_threads,
    usable_cpus,
)
from ember.backend.parameters import Options

from tests.backend.test_engine import GREEDY, chat_tokens

STEP = 0.01  # a quiet one-row step, seconds


class Machine:
    """Clocks for the policy: each step advances the wall clock; the others' and our busy time follow."""

    def __init__(self) -> None:
        self.wall = self.busy = self.own = 0.0
        self.others = 0.0  # cores the rest of the machine keeps busy now

    def step(self, share: ThreadShare, seconds: float, rows: int = 1) -> int:
        self.wall += seconds
        self.own += seconds * share.threads
        self.busy += seconds * (share.threads + self.others)
        return share.observe(seconds, rows)

    def read(self) -> CpuUse:
        return CpuUse(self.wall, self.busy, self.own)

    def clock(self) -> float:
        return self.wall


def _share(machine: Machine, most: int = 4) -> ThreadShare:
    return ThreadShare(most, cores=most, read=machine.read, clock=machine.clock)


def _run(machine: Machine, share: ThreadShare, seconds: float, count: int = 200, rows: int = 1) -> int:
    for _ in range(count):
        threads = machine.step(share, seconds, rows)
    return threads


def test_a_quiet_machine_keeps_every_thread() -> None:
    machine = Machine()
    share = _share(machine)
    assert _run(machine, share, STEP) == 4 and share.others == 0.0 and share.quiet[(4, 1)] == pytest.approx(STEP)


def test_busy_cores_and_slow_steps_mean_fewer_threads_until_the_others_are_idle() -> None:
    machine = Machine()
    share = _share(machine)
    _run(machine, share, STEP)
    machine.others = 1.0
    assert _run(machine, share, STEP * SLOW * 3) == 3  # the cores the others leave
    machine.others = 2.0
    assert _run(machine, share, STEP * SLOW * 3) == 2
    machine.others = 0.0
    assert _run(machine, share, STEP) == 4


def test_steps_as_fast_as_on_a_quiet_machine_keep_the_threads_however_busy_the_others() -> None:
    # a niced process beside this one gets the time slices nobody else wants: it slows nothing
    machine = Machine()
    share = _share(machine)
    _run(machine, share, STEP)
    machine.others = 1.0
    assert _run(machine, share, STEP * 1.2) == 4 and share.others == pytest.approx(1.0)


def test_a_step_is_held_against_quiet_steps_of_as_many_rows() -> None:
    # four streams' steps took longer on the quiet machine than one stream's step does beside a busy one
    machine = Machine()
    share = _share(machine)
    _run(machine, share, STEP * 3, rows=4)
    machine.others = 1.0
    assert _run(machine, share, STEP * 2, rows=4) == 4  # not slower than four rows were
    assert _run(machine, share, STEP * 2) == 3  # one row at two-thirds of four rows' time: contended


def test_a_little_work_elsewhere_is_no_contention() -> None:
    machine = Machine()
    share = _share(machine)
    machine.others = IDLE
    assert _run(machine, share, STEP * 10) == 4


def test_with_no_quiet_step_known_the_others_use_decides() -> None:
    machine = Machine()
    share = _share(machine, most=2)
    machine.others = 1.0
    assert _run(machine, share, 0.5, count=int(3 * LOOK_EVERY / 0.5) + 2) == 1 and not share.quiet


def test_default_threads_fit_the_cpus_this_process_may_use() -> None:
    assert 1 <= default_threads() <= len(usable_cpus())


@pytest.fixture
def busy_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """A busy loop on every usable CPU, each in a session of its own, as builds in other terminals are."""
    processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
                 for _ in usable_cpus()]
    yield processes
    _stop(processes)


def _signal(processes: list[subprocess.Popen[bytes]], signum: int) -> None:
    for process in processes:
        os.kill(process.pid, signum)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.kill()
        process.wait(timeout=10)


def _state(share: ThreadShare | None) -> str:
    return "no share" if share is None else (f"threads {share.threads}, others {share.others}, "
                                             f"quiet {share.quiet}, recent {list(share._recent)}")


@pytest.mark.timeout(300)
def test_the_model_decodes_with_fewer_threads_beside_busy_processes(runner, busy_processes) -> None:
    loop = runner.loop
    if loop.share is None or loop.share.most < 2:
        pytest.skip("one CPU: there is no thread to give up")
    most = loop.share.most
    prompt = chat_tokens(runner, "Tell me a long story about a lighthouse keeper.")
    options = Options.merge(GREEDY, {"num_predict": 64, "num_draft": 0})
    # this answer's quiet step time, learned here: earlier tests' steps were timed at other depths and loads
    loop.share = ThreadShare(most)
    _signal(busy_processes, signal.SIGSTOP)
    for _ in range(3):
        list(runner.generate(prompt, options))
    _signal(busy_processes, signal.SIGCONT)
    for _ in range(8):
        assert list(runner.generate(prompt, options))[-1].done
        if loop.threads < most:
            break
    assert loop.threads < most and loop.share.others is not None and loop.share.others > IDLE, _state(loop.share)
    _stop(busy_processes)
    for _ in range(8):
        list(runner.generate(prompt, options))
        if loop.threads == most:
            break
    assert loop.threads == most and loop.share.others is not None and loop.share.others <= IDLE, _state(loop.share)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("loaded_with", [0, 2])
def test_a_request_naming_its_threads_leaves_the_next_one_the_count_the_model_was_loaded_with(
        smollm2_gguf, loaded_with: int) -> None:
    from ember.backend.engine.runner import Runner

    loaded = Runner(smollm2_gguf, num_ctx=256, num_parallel=1, num_thread=loaded_with)
    try:
        loop = loaded.loop
        prompt = chat_tokens(loaded, "Say hello.")
        options = {"num_predict": 2, "num_ctx": 256}
        list(loaded.generate(prompt, Options.merge(GREEDY, {**options, "num_thread": 1})))
        assert loop.threads == 1
        list(loaded.generate(prompt, Options.merge(GREEDY, options)))
        # loaded with a count: that count; with none: the share's, as quiet as the machine is
        assert loop.threads == (loaded_with or loop.share.threads), _state(loop.share)
    finally:
        loaded.close()
