"""bench/hostile.py's templates: each is stopped by a limit the bench knows to look for in its 400."""

from __future__ import annotations

import pytest
from ember.backend.errors import TemplateError
from ember.backend.prompt.gotemplate import render_ollama_template
from ember.backend.types import Message

from bench.hostile import HOSTILE, Hostile, judge


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda h: h.template[:32])
def test_each_hostile_template_is_refused_naming_a_limit_the_bench_accepts(hostile: Hostile) -> None:
    with pytest.raises(TemplateError) as stopped:
        render_ollama_template(hostile.template, [Message("user", "hi")])
    assert judge(hostile, 400, str(stopped.value)), str(stopped.value)


def test_the_bench_counts_anything_but_a_400_naming_the_limit_as_wrong() -> None:
    loop = HOSTILE[0]
    assert judge(loop, 400, "the template was stopped: its loops ran past their limit of 2000000 iterations")
    assert not judge(loop, 500, "the template was stopped: its loops ran past their limit of 2000000 iterations")
    assert not judge(loop, 400, "model 'x' not found")
