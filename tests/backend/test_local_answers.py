"""LocalBackend's answers: streamed from the batch loop with no worker thread held, refused early when
the model cannot do what is asked, and leaving early frees the model's slot."""

from __future__ import annotations

import sys
import time
from contextlib import aclosing

import pytest
from ember.backend.errors import InvalidRequest
from ember.backend.types import ChatRequest, GenerateRequest, Message

from tests.conftest import DEFAULT_MODEL

pytestmark = pytest.mark.timeout(120)
LONG = {"num_predict": 400, "temperature": 1.0}


def threads_inside(module_suffix: str) -> list[str]:
    """Names of the code objects some thread is running now in a module whose path ends so."""
    found = []
    for frame in sys._current_frames().values():
        while frame is not None:
            if frame.f_code.co_filename.endswith(module_suffix):
                found.append(frame.f_code.co_name)
            frame = frame.f_back
    return found


def busy(backend) -> int:  # type: ignore[no-untyped-def]
    return sum(r.users + r.runner.loop.active() for r in backend.scheduler.residents())


async def test_a_live_answer_holds_no_worker_thread(backend):
    request = GenerateRequest(DEFAULT_MODEL, "Write a long story about the sea.", options=LONG)
    async with aclosing(backend.generate(request)) as answer:
        pieces = [await anext(answer), await anext(answer)]
        assert all(not piece.done for piece in pieces)
        assert threads_inside("local/local_backend.py") == []  # only the batch thread works now
        assert threads_inside("engine/runner.py") == []
    deadline = time.monotonic() + 20
    while busy(backend) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert busy(backend) == 0, "leaving early must free the model and its slot"


async def test_answers_end_with_timings_and_the_load_time(backend):
    request = ChatRequest(DEFAULT_MODEL, [Message("user", "Say hi.")], options={"num_predict": 4, "temperature": 0})
    chunks = [chunk async for chunk in backend.chat(request)]
    last = chunks[-1]
    assert last.done and last.done_reason in ("stop", "length")
    assert last.timings is not None and 0 < last.timings.eval_count <= 4
    assert last.timings.total_duration >= last.timings.load_duration + last.timings.eval_duration
    assert all(not chunk.done for chunk in chunks[:-1])


async def test_a_tools_request_to_a_model_without_a_place_for_tools_is_refused(backend):
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    async for _ in backend.create("notools-local:test", f"FROM {DEFAULT_MODEL}\nTEMPLATE {{{{ .Prompt }}}}"):
        pass
    request = ChatRequest("notools-local:test", [Message("user", "Weather in Paris?")], tools=[weather])
    with pytest.raises(InvalidRequest, match="does not support tools"):
        await anext(backend.chat(request))


async def test_a_bad_option_is_refused_before_anything_runs(backend):
    request = GenerateRequest(DEFAULT_MODEL, "hi", options={"temperature": "hot"})
    with pytest.raises(InvalidRequest, match="temperature expects a number"):
        await anext(backend.generate(request))
