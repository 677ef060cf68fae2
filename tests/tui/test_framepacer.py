"""The pacer spaces frames by what drawing costs the app's thread."""

from __future__ import annotations

import time

import pytest
from ember.tui.app.framepacer import FramePacer

pytestmark = pytest.mark.timeout(20)


def burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_cheap_frames_run_at_the_fastest_rate():
    pacer = FramePacer(budget=0.05, fastest=0.05, slowest=1.0)
    for _ in range(8):
        interval = pacer.next_interval()  # next to no CPU between calls
    assert interval == pytest.approx(0.05, rel=0.05)


def test_costly_frames_are_spaced_to_stay_within_the_budget():
    pacer = FramePacer(budget=0.05, fastest=0.05, slowest=1.0)
    for _ in range(8):
        burn(0.02)  # 20 ms of drawing: within 5 % of a core means one frame every 0.4 s
        interval = pacer.next_interval()
    assert 0.35 < interval <= 0.5


def test_the_slowest_rate_caps_the_spacing():
    pacer = FramePacer(budget=0.01, fastest=0.05, slowest=0.3)
    for _ in range(6):
        burn(0.02)
        interval = pacer.next_interval()
    assert interval == pytest.approx(0.3, rel=0.05)
