"""`format` becomes a llama.cpp grammar; what cannot become one is a clear 400."""

from __future__ import annotations

import pytest
from ember.backend.errors import InvalidRequest
from ember.backend.prompt.grammar import grammar_for_format


def test_json_gives_the_json_grammar() -> None:
    assert "root" in grammar_for_format("json") and "object" in grammar_for_format("json")


def test_a_schema_names_its_properties_in_the_grammar() -> None:
    grammar = grammar_for_format({"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]})
    assert '"\\"age\\""' in grammar and "root ::=" in grammar


def test_the_answer_keys_come_in_the_schemas_order() -> None:
    properties = {name: {"type": "string"} for name in ("name", "city", "age")}
    root = next(line for line in grammar_for_format({"type": "object", "properties": properties,
                                                     "required": list(properties)}).splitlines()
                if line.startswith("root ::="))
    assert root.index("name-kv") < root.index("city-kv") < root.index("age-kv")


def test_a_schema_may_come_as_text() -> None:
    assert grammar_for_format('{"type": "string"}') == grammar_for_format({"type": "string"})


@pytest.mark.parametrize("fmt", ["yaml", "", {"type": "wat"}, {"$ref": "#/missing"}, "[1, 2]"])
def test_formats_that_are_not_json_or_a_schema_are_refused(fmt: object) -> None:
    with pytest.raises(InvalidRequest):
        grammar_for_format(fmt)  # type: ignore[arg-type]
