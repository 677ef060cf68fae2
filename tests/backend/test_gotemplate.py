"""Modelfile TEMPLATEs in Ollama's Go-template syntax."""

from __future__ import annotations

import pytest
from ember.backend.errors import TemplateError
from ember.backend.prompt.gotemplate import check_template, render_ollama_template
from ember.backend.prompt.jinja import render_chat
from ember.backend.store.ggufmeta import read_gguf_meta
from ember.backend.types import Message

CONVERSATION = [
    Message("system", "You are a helpful assistant."),
    Message("user", "Hello, how are you?"),
    Message("assistant", "I'm doing great. How can I help you today?"),
    Message("user", "I'd like to show off how chat templating works!"),
]

CHATML = """{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""

# Gemma's turn format: no system role, so the system text opens the first user turn.
GEMMA_TURNS = """{{- range $i, $m := .Messages }}
{{- if eq .Role "user" }}<start_of_turn>user
{{ if and $.System (eq $i 1) }}{{ $.System }}

{{ end }}{{ .Content }}<end_of_turn>
{{ else if eq .Role "assistant" }}<start_of_turn>model
{{ .Content }}<end_of_turn>
{{ end }}
{{- end }}<start_of_turn>model
"""

LEGACY_CHATML = """{{ if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ .Response }}<|im_end|>
"""


def test_a_chatml_template_renders_what_smollm2s_own_jinja_template_does(smollm2_gguf):
    jinja = read_gguf_meta(smollm2_gguf).chat_template
    assert render_ollama_template(CHATML, CONVERSATION) == render_chat(jinja, CONVERSATION)


def test_gemma_turns_fold_the_system_text_into_the_first_user_turn():
    assert render_ollama_template(GEMMA_TURNS, CONVERSATION) == (
        "<start_of_turn>user\nYou are a helpful assistant.\n\nHello, how are you?<end_of_turn>\n"
        "<start_of_turn>model\nI'm doing great. How can I help you today?<end_of_turn>\n"
        "<start_of_turn>user\nI'd like to show off how chat templating works!<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_a_prompt_response_template_runs_once_per_exchange_and_stays_open_at_the_reply():
    assert render_ollama_template(LEGACY_CHATML, CONVERSATION) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHello, how are you?<|im_end|>\n"
        "<|im_start|>assistant\nI'm doing great. How can I help you today?<|im_end|>\n"
        "<|im_start|>user\nI'd like to show off how chat templating works!<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_a_template_without_response_gets_one_appended_as_ollama_does():
    assert render_ollama_template("Q: {{ .Prompt }}\nA: ", [Message("user", "2+2?"), Message("assistant", "4"),
                                                             Message("user", "3+3?")]) == "Q: 2+2?\nA: 4Q: 3+3?\nA: "


def test_consecutive_turns_of_one_role_are_merged():
    out = render_ollama_template(CHATML, [Message("user", "a"), Message("user", "b")])
    assert "<|im_start|>user\na\n\nb<|im_end|>" in out


def render(template: str, messages: list[Message] | None = None, tools=None) -> str:
    return render_ollama_template(template, messages or [Message("system", "S"), Message("user", "hi")],
                                  tools=tools)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("a  {{- .System -}}  b{{ .Messages | len }}", "aSb2"),
        ("{{/* a comment */}}x{{- /* trimmed */ -}} y", "xy"),
        ("{{ $n := len .Messages }}{{ $n }}{{ $n = 7 }}{{ $n }}", "27"),
        ('{{ if eq .System "S" }}yes{{ else }}no{{ end }}', "yes"),
        ('{{ if eq .System "x" "y" "S" }}any{{ end }}', "any"),
        ('{{ if ne .System "S" }}a{{ else if not .Tools }}b{{ else }}c{{ end }}', "b"),
        ("{{ and 1 0 2 }}|{{ or 0 \"\" 3 }}|{{ and 1 2 }}|{{ or 0 false }}", "0|3|2|false"),
        ("{{ range $i, $m := .Messages }}{{ $i }}={{ $m.Role }};{{ end }}", "0=system;1=user;"),
        ("{{ range .Messages }}{{ if eq .Role \"user\" }}{{ break }}{{ end }}{{ .Content }}{{ end }}", "S"),
        ("{{ range .Messages }}{{ if eq .Role \"system\" }}{{ continue }}{{ end }}{{ .Content }}{{ end }}", "hi"),
        ("{{ range .Tools }}x{{ else }}none{{ end }}", "none"),
        ("{{ with .System }}<{{ . }}>{{ end }}{{ with .Tools }}t{{ else with .System }}[{{ . }}]{{ end }}", "<S>[S]"),
        ("{{ (index .Messages 1).Content }}|{{ index .Messages 0 | len }}", "hi|6"),
        ("{{ slice .System 0 1 }}{{ len (slice .Messages 1) }}", "S1"),
        ('{{ printf "%s-%d-%q-%v" .System 3 "x" true }}', 'S-3-"x"-true'),
        ('{{ print "a" 1 2 "b" }}|{{ println 1 "x" }}', "a1 2b|1 x\n"),
        ("{{ lt 1 2 }}{{ le 2 2 }}{{ gt 1 2 }}{{ ge 1.5 1 }}", "truetruefalsetrue"),
        ("{{ $.System }}{{ range .Messages }}{{ $.System }}{{ end }}", "SSS"),
        ("{{ .Missing }}|{{ .Missing.Deeper }}|", "||"),
        ("{{ json .Messages }}", '[{"Role":"system","Content":"S","Images":[],"ToolCalls":[],"ToolName":"","Thinking":""},'
                                 '{"Role":"user","Content":"hi","Images":[],"ToolCalls":[],"ToolName":"","Thinking":""}]'),
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        ("{{ `raw {{ text }}` }}", "raw {{ text }}"),
    ],
)
def test_the_go_template_language_ollama_templates_use(template, expected):
    assert render(template) == expected


def test_tools_and_tool_calls_are_reachable_with_go_field_names():
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                                "parameters": {"type": "object",
                                                               "properties": {"city": {"type": "string"}}}}}]
    call = Message("assistant", "", tool_calls=[{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}])
    template = ("{{ if .Tools }}{{ range .Tools }}{{ .Function.Name }}: {{ .Function.Description }} "
                "{{ range $k, $v := .Function.Parameters.Properties }}{{ $k }}:{{ $v.Type }}{{ end }}{{ end }}\n"
                "{{ end }}{{ range .Messages }}{{ range .ToolCalls }}call {{ .Function.Name }} "
                "{{ json .Function.Arguments }}{{ end }}{{ end }}")
    out = render_ollama_template(template, [Message("user", "Weather in Oslo?"), call], tools=tools)
    assert out == 'get_weather: Weather for a city city:string\ncall get_weather {"city":"Oslo"}'


@pytest.mark.parametrize(
    ("template", "where", "what"),
    [
        ("{{ if .System }}x", "line 1, column 1", 'unclosed "if"'),
        ("ok\n{{ .System ", "line 2, column 1", "unclosed action"),
        ("a\nb {{ nosuch .System }}", "line 2, column 6", 'unknown function "nosuch"'),
        ("{{ $x }}", "line 1, column 4", "undefined variable $x"),
        ("{{ end }}", "line 1, column 1", 'unexpected "end"'),
        ('{{ define "x" }}{{ end }}', "line 1, column 4", "not supported"),
        ("{{ .System | }}", "line 1, column 12", "missing value"),
        ("{{ ( .System }}", "line 1, column 4", "unclosed parenthesis"),
        ("{{ .System ^ }}", "line 1, column 12", "unexpected '^'"),
        ("{{/* open }}", "line 1, column 1", "unclosed comment"),
        ("{{ range .Messages }}{{ else }}{{ else }}{{ end }}", "line 1, column", "unclosed"),
    ],
)
def test_a_template_that_does_not_parse_names_the_line_and_column(template, where, what):
    with pytest.raises(TemplateError) as caught:
        check_template(template)
    assert where in str(caught.value) and what in str(caught.value)


@pytest.mark.parametrize(
    "template",
    [
        "{{ .__class__ }}{{ .Messages.__class__ }}",
        "{{ index . \"__globals__\" }}",
        "{{ range .Messages }}{{ .__init__.__globals__ }}{{ end }}",
        "{{ .System.__class__.__mro__ }}",
    ],
)
def test_a_template_cannot_reach_python_internals(template):
    try:
        out = render(template)
    except TemplateError:
        return
    assert "class" not in out and "function" not in out and "module" not in out


def test_runtime_mistakes_are_template_errors_not_crashes():
    with pytest.raises(TemplateError, match="index"):
        render("{{ index .Messages 9 }}")
    with pytest.raises(TemplateError, match="comparison"):
        render('{{ lt .Messages "a" }}')
    with pytest.raises(TemplateError, match="not a function"):
        render("{{ .System .System }}")


def test_tools_and_tool_call_arguments_print_as_json_as_ollamas_go_types_do():
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "<city> & weather"}}]
    call = Message("assistant", "", tool_calls=[{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}])
    template = ("{{ range .Tools }}{{ .Function }}{{ end }}|{{ .Tools }}|"
                "{{ range .Messages }}{{ range .ToolCalls }}{{ .Function.Arguments }}{{ end }}{{ end }}")
    out = render_ollama_template(template, [Message("user", "Weather?"), call], tools=tools)
    function = '{"name":"get_weather","description":"\\u003ccity\\u003e \\u0026 weather"}'
    assert out == f'{function}|[{{"type":"function","function":{function}}}]|{{"city":"Oslo"}}'
    assert "map[" not in out
