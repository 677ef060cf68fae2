"""The Modelfile parser and renderer: every instruction, quoting form, comment and error."""

from __future__ import annotations

import pytest
from ember.backend.errors import ModelfileError
from ember.backend.models.modelfile import INSTRUCTIONS, Modelfile, parse_modelfile, quote, render_modelfile
from ember.backend.parameters import PARAMETERS
from ember.backend.types import Message
from hypothesis import given, settings
from hypothesis import strategies as st


def parse(text: str) -> Modelfile:
    return parse_modelfile(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM smollm2:135m", Modelfile("smollm2:135m")),
        ("FROM ./models/x.gguf", Modelfile("./models/x.gguf")),
        ("FROM m\nSYSTEM You are terse.", Modelfile("m", system="You are terse.")),
        ("FROM m\nTEMPLATE {{ .Prompt }}", Modelfile("m", template="{{ .Prompt }}")),
        ("FROM m\nADAPTER ./lora.gguf\nADAPTER b.gguf", Modelfile("m", adapters=("./lora.gguf", "b.gguf"))),
        ("FROM m\nLICENSE MIT\nLICENSE Apache-2.0", Modelfile("m", license=("MIT", "Apache-2.0"))),
        ("FROM m\nMESSAGE user Hi\nMESSAGE assistant Hello!\nMESSAGE system Be kind",
         Modelfile("m", messages=(Message("user", "Hi"), Message("assistant", "Hello!"),
                                  Message("system", "Be kind")))),
        ("FROM m\nPARAMETER temperature 0.2\nPARAMETER num_ctx 2048",
         Modelfile("m", parameters={"temperature": 0.2, "num_ctx": 2048})),
        ("FROM m\nPARAMETER stop <|im_end|>\nPARAMETER stop \"User:\"",
         Modelfile("m", parameters={"stop": ("<|im_end|>", "User:")})),
        ("FROM m\nPARAMETER temperature 0.2\nPARAMETER temperature 0.9", Modelfile("m", parameters={"temperature": 0.9})),
        ("FROM m\nSYSTEM one\nSYSTEM two", Modelfile("m", system="two")),
    ],
)
def test_each_instruction(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bare words, kept as they are  ", "bare words, kept as they are"),
        ('"quoted text"', "quoted text"),
        ('"with \\"escapes\\" \\\\ \\n\\t\\r"', 'with "escapes" \\ \n\t\r'),
        ('"other backslashes stay: C:\\dir \\d+"', "other backslashes stay: C:\\dir \\d+"),
        ('"a quoted value\nmay run over lines"', "a quoted value\nmay run over lines"),
        ('"""multi\nline "with" quotes\n"""', 'multi\nline "with" quotes\n'),
        ('"""no \\n escapes in triple quotes"""', "no \\n escapes in triple quotes"),
        ('"caf\\u00e9 \\ud83d\\ude00, a JSON string"', "café 😀, a JSON string"),
        ('"\\u12 is not an escape"', "\\u12 is not an escape"),
        ('""', ""),
        ('"  padded  "', "  padded  "),
        ("# not a comment inside a value", "# not a comment inside a value"),
    ],
)
def test_quoting_forms(value, expected):
    assert parse(f"FROM m\nSYSTEM {value}\n").system == expected


def test_instructions_are_case_insensitive_and_comments_blank_lines_and_crlf_are_ignored():
    text = ("\ufeff# a comment\r\n\r\n  from m\r\n\t# indented comment\r\nSystem hello\r\n"
            "parameter TOP_K 5\r\nmessage USER hi\r\n\r\n")
    assert parse(text) == Modelfile("m", system="hello", parameters={"top_k": 5}, messages=(Message("user", "hi"),))


SAMPLES = {int: "3", float: "0.5", str: "END", bool: "true"}


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_every_parameter_ollama_documents_is_accepted_with_its_type(name):
    param = PARAMETERS[name]
    sample = SAMPLES[param.kind]
    if param.kind in (int, float):
        sample = str(param.kind(min(max(float(sample), param.minimum), param.maximum)))  # type: ignore[arg-type]
    value = parse(f"FROM m\nPARAMETER {name} {sample}").parameters[name]
    if param.repeatable:
        assert value == ("END",)
    else:
        assert type(value) is param.kind and value == param.kind(sample)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM m\nSYSTEM hi\n\nPARAMETER temperature hot",
         'Modelfile line 4, column 23: PARAMETER temperature expects a number, got "hot"'),
        ("FROM m\nPARAMETER temprature 0.2",
         'Modelfile line 2, column 11: unknown parameter "temprature" — did you mean "temperature"?'),
        ("FROM m\nPARAMETER num_ctx 1.5", 'Modelfile line 2, column 19: PARAMETER num_ctx expects an integer, got "1.5"'),
        ("FROM m\nPARAMETER top_p 2", "Modelfile line 2, column 17: PARAMETER top_p must be at most 1, got 2.0"),
        ("FROM m\nPARAMETER", "Modelfile line 2, column 10: PARAMETER needs a name and a value"),
        ("FROM m\nPARAMETER seed", "Modelfile line 2, column 15: PARAMETER seed needs a value"),
        ('FROM m\nSYSTEM """never closed\nmore', 'Modelfile line 2, column 8: SYSTEM: unterminated """'),
        ('FROM m\nTEMPLATE "never closed', 'Modelfile line 2, column 10: TEMPLATE: unterminated "'),
        ('FROM m\nSYSTEM "done" and more', "Modelfile line 2, column 15: SYSTEM: unexpected text after the closing quote"),
        ("FROM m\nSYTEM hi", 'Modelfile line 2, column 1: unknown instruction "SYTEM" — did you mean "SYSTEM"?'),
        ("FROM m\nRUN echo", 'Modelfile line 2, column 1: unknown instruction "RUN" — expected one of FROM'),
        ("FROM m\nFROM2 x", 'Modelfile line 2, column 1: unknown instruction "FROM2" — did you mean "FROM"?'),
        ("FROM m\nMESSAGE robot hi", 'Modelfile line 2, column 9: MESSAGE role must be system, user or assistant, got "robot"'),
        ("FROM m\nMESSAGE user", "Modelfile line 2, column 13: MESSAGE user needs a value"),
        ("FROM a\nFROM b\nFROM c", "Modelfile line 3, column 1: FROM is given three times (first on line 1)"),
        ("SYSTEM hi", 'no FROM line — start the Modelfile with "FROM <model or file.gguf>"'),
        ("", "no FROM line"),
        ("FROM m\nTEMPLATE {{ if .System }}", "Modelfile line 2, column 10: TEMPLATE does not parse: template line 1, "
                                            'column 1: unclosed "if"'),
        ('FROM m\nTEMPLATE """ok\n{{ .Prompt | nosuch }}"""', "Modelfile line 3, column 14: TEMPLATE does not parse: "
                                                            'template line 2, column 14: unknown function "nosuch"'),
    ],
)
def test_every_mistake_names_its_line_and_column_and_what_was_expected(text, message):
    with pytest.raises(ModelfileError) as caught:
        parse(text)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_the_error_carries_line_and_column_as_attributes():
    with pytest.raises(ModelfileError) as caught:
        parse("FROM m\n\n  PARAMETER top_k many")
    assert (caught.value.line, caught.value.column) == (3, 19)


def test_render_writes_one_instruction_per_line_in_a_fixed_order():
    modelfile = Modelfile("smollm2:135m", {"temperature": 0.2, "stop": ("a", " b")}, "{{ .Prompt }}", "Be brief.",
                          ("./l.gguf",), (Message("user", 'say "hi"\n'),), ("MIT",))
    assert render_modelfile(modelfile) == (
        "FROM smollm2:135m\nADAPTER ./l.gguf\nTEMPLATE {{ .Prompt }}\nSYSTEM Be brief.\n"
        'PARAMETER temperature 0.2\nPARAMETER stop a\nPARAMETER stop " b"\n'
        'MESSAGE user """say "hi"\n"""\nLICENSE MIT\n'
    )


@pytest.mark.parametrize("text", ["", " x", "x ", '"x', 'a"""b\nc', 'ends with "\nquote"', "cr\r", "\\n", "tab\tin"])
def test_quote_always_reads_back_as_the_same_text(text):
    assert parse(f"FROM m\nSYSTEM {quote(text)}").system == text


# --- the property: render(parse(x)) parses back to x ----------------------------------------

values = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)


def _parameter_values(name: str) -> st.SearchStrategy[object]:
    param = PARAMETERS[name]
    if param.repeatable:
        return st.lists(values, min_size=1, max_size=3).map(tuple)
    if param.kind is bool:
        return st.booleans()
    if param.kind is int:
        return st.integers(int(param.minimum), int(param.maximum))  # type: ignore[arg-type]
    return st.floats(param.minimum, param.maximum, allow_nan=False, allow_infinity=False)  # type: ignore[arg-type]


parameters = st.lists(st.sampled_from(sorted(PARAMETERS)), unique=True, max_size=5).flatmap(
    lambda names: st.fixed_dictionaries({n: _parameter_values(n) for n in names}))
TEMPLATES = [None, "{{ .Prompt }}", '{{- range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}', "{{ if .System }}"
             "{{ .System }}{{ end }}\n{{ .Prompt }}"]
modelfiles = st.builds(
    Modelfile,
    base=values.filter(lambda v: v.strip() != ""),
    parameters=parameters,
    template=st.sampled_from(TEMPLATES),
    system=st.none() | values,
    adapters=st.lists(values, max_size=2).map(tuple),
    messages=st.lists(st.builds(Message, st.sampled_from(["system", "user", "assistant"]), values), max_size=3).map(tuple),
    license=st.lists(values, max_size=2).map(tuple),
)


def _messy_value(draw, text: str) -> str:
    """Any quoting form that reads back as `text`, as a person might write it."""
    forms = ['"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r") + '"']
    if '"""' not in text and not text.endswith('"') and "\r" not in text:
        forms.append('"""' + text + '"""')
    if text and text == text.strip() and "\n" not in text and "\r" not in text and not text.startswith('"'):
        forms.append(text)
    return draw(st.sampled_from(forms))


@st.composite
def messy_texts(draw) -> tuple[str, Modelfile]:
    """A Modelfile, and text for it with mixed case, comments, blank lines and any quoting form."""
    modelfile = draw(modelfiles)
    lines = [draw(st.sampled_from(["", "# a comment", "   # indented comment", "\t"])) for _ in range(2)]

    def word(name: str) -> str:
        return draw(st.sampled_from([name, name.lower(), name.capitalize()]))

    body = [f"{word('FROM')} {_messy_value(draw, modelfile.base)}"]
    body += [f"{word('ADAPTER')} {_messy_value(draw, a)}" for a in modelfile.adapters]
    if modelfile.template is not None:
        body.append(f"{word('TEMPLATE')} {_messy_value(draw, modelfile.template)}")
    if modelfile.system is not None:
        body.append(f"{word('SYSTEM')} {_messy_value(draw, modelfile.system)}")
    for name, value in modelfile.parameters.items():
        for item in value if isinstance(value, tuple) else [value]:
            text = repr(item) if isinstance(item, float) else str(item)
            body.append(f"{word('PARAMETER')} {name} {_messy_value(draw, text)}")
    body += [f"{word('MESSAGE')} {m.role} {_messy_value(draw, m.content)}" for m in modelfile.messages]
    body += [f"{word('LICENSE')} {_messy_value(draw, text)}" for text in modelfile.license]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(lines + body + [""]).replace("\r\n", newline), modelfile


@settings(max_examples=300, deadline=None)
@given(modelfiles)
def test_rendering_then_parsing_gives_back_the_same_modelfile(modelfile):
    assert parse(render_modelfile(modelfile)) == modelfile


@settings(max_examples=300, deadline=None)
@given(messy_texts())
def test_render_of_parse_of_any_modelfile_text_parses_back_to_it(case):
    text, modelfile = case
    parsed = parse(text)
    assert parsed == modelfile
    assert parse(render_modelfile(parsed)) == parsed


def test_the_instruction_list_is_ollamas():
    assert set(INSTRUCTIONS) == {"FROM", "PARAMETER", "TEMPLATE", "SYSTEM", "ADAPTER", "LICENSE", "MESSAGE"}
