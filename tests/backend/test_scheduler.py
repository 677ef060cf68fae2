"""Resident models: keep-alive, least-recently-used eviction, memory, concurrent and exclusive runners."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from ember.backend.engine.scheduler import FOREVER, ModelKey, Scheduler, parse_keep_alive
from ember.backend.errors import InvalidRequest


class Loaded:
    """What the scheduler manages: anything with close(); records its own lifecycle."""

    concurrent = False

    def __init__(self, key: ModelKey) -> None:
        self.key, self.closed = key, False

    def close(self) -> None:
        self.closed = True


def key(name: str) -> ModelKey:
    return ModelKey(Path(f"/models/{name}.gguf"))


def use_once(scheduler: Scheduler, name: str, keep_alive: float | None = None) -> Loaded:
    with scheduler.use(key(name), name, keep_alive) as (runner, _):
        return runner


def test_keep_alive_parses_ollama_durations():
    assert parse_keep_alive("5m", 1) == 300
    assert parse_keep_alive("1h30m", 1) == 5400
    assert parse_keep_alive("90s", 1) == 90
    assert parse_keep_alive(0, 1) == 0
    assert parse_keep_alive(-1, 1) == FOREVER
    assert parse_keep_alive("-1m", 1) == FOREVER
    assert parse_keep_alive(None, 7) == 7
    with pytest.raises(InvalidRequest, match="needs a unit"):
        parse_keep_alive("1h10", 1)


def test_a_resident_model_is_reused_not_loaded_again():
    loads = []
    scheduler = Scheduler(lambda k: loads.append(k) or Loaded(k), keep_alive=FOREVER)
    assert use_once(scheduler, "a") is use_once(scheduler, "a")
    assert len(loads) == 1


def test_the_least_recently_used_idle_model_is_evicted_past_the_limit():
    scheduler = Scheduler(Loaded, max_loaded=2, keep_alive=FOREVER)
    a = use_once(scheduler, "a")
    b = use_once(scheduler, "b")
    use_once(scheduler, "a")  # a is now more recent than b
    use_once(scheduler, "c")
    assert b.closed and not a.closed
    assert {r.name for r in scheduler.residents()} == {"a", "c"}


def test_a_model_in_use_is_never_evicted():
    scheduler = Scheduler(Loaded, max_loaded=1, keep_alive=FOREVER)
    with scheduler.use(key("a"), "a") as (a, _):
        b = use_once(scheduler, "b")
        assert not a.closed
    assert {r.name for r in scheduler.residents()} == {"a"} and b.closed


def test_keep_alive_unloads_an_idle_model_when_it_expires():
    scheduler = Scheduler(Loaded, keep_alive=0.05)
    a = use_once(scheduler, "a")
    assert scheduler.residents()[0].expires_at > time.time()
    deadline = time.monotonic() + 5
    while not a.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert a.closed and scheduler.residents() == []


def test_keep_alive_zero_unloads_at_once_and_minus_one_keeps_forever():
    scheduler = Scheduler(Loaded, keep_alive=300)
    assert use_once(scheduler, "a", 0).closed
    forever = use_once(scheduler, "b", FOREVER)
    assert not forever.closed and scheduler.residents()[0].expires_at == 0.0


def test_idle_models_give_way_when_memory_runs_short():
    free = {"bytes": 300}

    class Sized(Loaded):
        """Takes 100 bytes while loaded."""

        def __init__(self, k: ModelKey) -> None:
            super().__init__(k)
            free["bytes"] -= 100

        def close(self) -> None:
            super().close()
            free["bytes"] += 100

    scheduler = Scheduler(Sized, max_loaded=10, keep_alive=FOREVER, need=lambda k: 150,
                          available=lambda: free["bytes"])
    a = use_once(scheduler, "a")  # 300 free: fits
    b = use_once(scheduler, "b")  # 200 free: fits
    use_once(scheduler, "c")  # 100 free: a, the least recently used, goes first
    assert a.closed and not b.closed
    assert {r.name for r in scheduler.residents()} == {"b", "c"}


@pytest.mark.parametrize(("concurrent", "at_once"), [(False, 1), (True, 3)])
def test_exclusive_runners_serve_one_request_at_a_time_and_concurrent_ones_many(concurrent, at_once):
    class Runner(Loaded):
        pass

    Runner.concurrent = concurrent
    scheduler = Scheduler(Runner, keep_alive=FOREVER)
    inside, most, lock = [0], [0], threading.Lock()
    barrier = threading.Barrier(3)

    def work() -> None:
        barrier.wait()
        with scheduler.use(key("m"), "m"):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == at_once


def test_two_real_models_with_a_limit_of_one(smollm2_gguf, tmp_path):
    from ember.backend.engine.runner import Runner

    copies = []
    for name in ("one", "two"):
        path = tmp_path / f"{name}.gguf"
        os.link(smollm2_gguf, path) if smollm2_gguf.stat().st_dev == tmp_path.stat().st_dev else \
            path.write_bytes(smollm2_gguf.read_bytes())
        copies.append(path)
    scheduler = Scheduler(lambda k: Runner(k.model, num_ctx=256, num_parallel=1), max_loaded=1, keep_alive=FOREVER)
    with scheduler.use(ModelKey(copies[0]), "one") as (first, load_ns):
        assert load_ns > 0 and first.tokenize("hi", add_special=False)
    with scheduler.use(ModelKey(copies[1]), "two") as (second, _):
        assert second.model is not None
    assert first.model is None  # closed: its memory went back
    assert [r.name for r in scheduler.residents()] == ["two"]
    scheduler.unload_all()
    assert second.model is None
