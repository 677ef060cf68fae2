"""Hostile templates render under hard budgets: each stops with a TemplateError naming its limit.

The Jinja cases are a GGUF's chat template; the Go cases are a Modelfile TEMPLATE or the `template`
field any client may send on /api/generate. Each one, before the budgets, froze the server (big
integers holding the interpreter), grew it by gigabytes, or spun a core after the client left.
"""

from __future__ import annotations

import threading

import httpx
import pytest
from ember.backend.errors import TemplateError
from ember.backend.prompt.budget import RenderLimits
from ember.backend.prompt.gotemplate import render_ollama_template
from ember.backend.prompt.jinja import render_chat
from ember.backend.types import Message

CHAT = [Message("system", "Be brief."), Message("user", "x" * 300)]

HOSTILE_JINJA = {
    "power chain": ("{{ ((((9 ** 64) ** 64) ** 64) ** 64) ** 64 }}", "bits"),
    "power": ("{{ 9 ** (9 ** 9) }}", "bits"),
    "product": ("{{ (2 ** 10000) * (2 ** 10000) }}", "bits"),
    "float": ("{{ 10.0 ** 400 }}", "too large"),
    "tilde doubling": ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
                       "{% endfor %}{{ ns.s }}", "value of more than 16 M"),
    "plus doubling": ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
                      "{% endfor %}{{ ns.s }}", "value of more than 16 M"),
    "center": ("{{ 'a'|center(1000000000) }}", "value of more than 16 M"),
    "percent width": ("{{ '%999999999s' % 'x' }}", "width of 999999999"),
    "percent star": ("{{ '%*s' % (999999999, 'x') }}", "width of 999999999"),
    "format filter": ("{{ '%999999999d'|format(1) }}", "width of 999999999"),
    "str.format": ("{{ '{:>999999999}'.format(1) }}", "width of 999999999"),
    "ljust": ("{{ 'a'.ljust(1000000000) }}", "value of more than 16 M"),
    "indent": ("{{ ('a\n' * 1000000)|indent(1000) }}", "value of more than 16 M"),
    "tojson indent": ("{{ messages|tojson(indent=100000000) }}", "indent"),
    "replace filter": ("{{ ('a' * 100000)|replace('a', 'b' * 100000) }}", "value of more than 16 M"),
    "replace method": ("{{ ('a' * 100000).replace('a', 'b' * 100000) }}", "value of more than 16 M"),
    "join": ("{{ (['a' * 10000000] * 10)|join('x') }}", "value of more than 16 M"),
    "expandtabs": ("{{ ('\t' * 1000000).expandtabs(100000) }}", "value of more than 16 M"),
    "lipsum": ("{{ lipsum(100000, max=100000) }}", "value of more than 16 M"),
    "recursion": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "nested deeper than 100"),
    "loops over text": ("{% for a in messages[1].content %}{% for b in messages[1].content %}"
                        "{% for c in messages[1].content %}{% endfor %}{% endfor %}{% endfor %}", "iterations"),
    "range": ("{% for i in range(100000000) %}{% endfor %}", "range of 100000000"),
    "output": ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "prompt of more than 16 M"),
    "parentheses": ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "too deeply"),
}

HOSTILE_GO = {
    "range a billion": ("{{range 1000000000}}{{end}}", "limit"),
    "printf width": ('{{printf "%999999999s" .Prompt}}', "width of 999999999"),
    "printf precision": ('{{printf "%.999999999f" 1.5}}', "width of 999999999"),
    "nested ranges": ("{{range 100000}}{{range 100000}}{{end}}{{end}}", "limit"),
    "nested with": ("{{with 1}}" * 3000 + "{{end}}" * 3000, "nested deeper than 100"),
    "parentheses": ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "nested deeper than 100"),
    "printf doubling": ('{{ $x := "ab" }}{{ range 64 }}{{ $x = printf "%s%s" $x $x }}{{ end }}{{ $x }}',
                        "value of more than 16 M"),
    "print doubling": ('{{ $x := "ab" }}{{ range 64 }}{{ $x = print $x $x }}{{ end }}{{ $x }}',
                       "value of more than 16 M"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(HOSTILE_JINJA))
def test_a_hostile_chat_template_is_stopped_by_a_named_limit(name: str) -> None:
    template, limit = HOSTILE_JINJA[name]
    with pytest.raises(TemplateError, match="^the chat template") as caught:
        render_chat(template, CHAT)
    assert limit in str(caught.value) or "time limit" in str(caught.value)  # on a busy machine the clock may win


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(HOSTILE_GO))
def test_a_hostile_go_template_is_stopped_by_a_named_limit(name: str) -> None:
    template, limit = HOSTILE_GO[name]
    with pytest.raises(TemplateError) as caught:
        render_ollama_template(template, CHAT)
    assert limit in str(caught.value) or "time limit" in str(caught.value)  # on a busy machine the clock may win


def test_ordinary_templates_still_use_operators_filters_and_loops() -> None:
    template = ("{% for m in messages %}{{ m.role ~ ':' }}{{ m.content[:3] }}|{% endfor %}"
                "{{ '%3s|%-2d' % ('a', 2) }}{{ [1, 2] + [3] }}{{ 'ab' * 2 }}{{ 2 ** 10 }}{{ 7 * 6 }}"
                "{{ 'x'|center(5) }}{{ '{:>4}'.format(1) }}{{ messages|tojson(indent=2)|length > 0 }}")
    assert render_chat(template, CHAT) == "system:Be |user:xxx|  a|2 [1, 2, 3]abab102442  x     1True"
    go = '{{ range .Messages }}{{ .Role }}{{ end }}{{ printf "%4s|%.2f" "a" 1.5 }}{{ range 3 }}{{ . }}{{ end }}'
    assert render_ollama_template(go, CHAT) == "systemuser   a|1.50012"


def test_the_deadline_is_checked_inside_the_evaluators() -> None:
    no_time = RenderLimits(seconds=0)
    with pytest.raises(TemplateError, match="time limit of 0 s"):
        render_chat("{% for i in range(10) %}{{ i }}{% endfor %}", CHAT, limits=no_time)
    with pytest.raises(TemplateError, match="time limit of 0 s"):
        render_ollama_template("{{ range 10 }}{{ . }}{{ end }}", CHAT, limits=no_time)


def test_a_rendering_stops_when_its_request_is_cancelled() -> None:
    gone = threading.Event()
    gone.set()
    with pytest.raises(TemplateError, match="cancelled"):
        render_chat("{% for i in range(10) %}{{ i }}{% endfor %}", CHAT, cancel=gone)
    with pytest.raises(TemplateError, match="cancelled"):
        render_ollama_template("{{ range 10 }}{{ . }}{{ end }}", CHAT, cancel=gone)


@pytest.mark.timeout(120)
def test_a_hostile_template_field_gets_a_400_while_the_server_keeps_answering(server: str) -> None:
    """Any client may send a Go template per request: it costs that client a 400, nobody else anything."""
    body = {"model": "smollm2:135m", "prompt": "hi", "stream": False, "options": {"num_predict": 2},
            "template": '{{ $x := "ab" }}{{ range 100000000 }}{{ $x = print $x "a" }}{{ end }}'}
    answers: list[httpx.Response] = []
    hostile = threading.Thread(target=lambda: answers.append(httpx.post(server + "/api/generate", json=body,
                                                                        timeout=60)))
    hostile.start()
    versions = [httpx.get(server + "/api/version", timeout=30) for _ in range(5)]
    hostile.join(60)
    assert all(v.status_code == 200 for v in versions)
    assert answers and answers[0].status_code == 400, answers
    assert "the template was stopped" in answers[0].json()["error"]
    again = {"model": "smollm2:135m", "prompt": "hi", "stream": False, "options": {"num_predict": 2, "seed": 1}}
    assert httpx.post(server + "/api/generate", json=again, timeout=60).status_code == 200
