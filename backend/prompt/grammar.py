"""Structured outputs: turn Ollama's `format` ("json" or a JSON schema) into a llama.cpp grammar.

The grammar constrains sampling token by token, so the answer always parses and matches the schema.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from ember.backend.errors import InvalidRequest


def grammar_for_format(fmt: str | dict[str, Any]) -> str:
    """A GBNF grammar for `format`: "json" for any JSON object, or a JSON schema (a dict or its text)."""
    if isinstance(fmt, str):
        text = fmt.strip()
        if text == "json":
            from llama_cpp.llama_grammar import JSON_GBNF

            return JSON_GBNF
        try:
            schema = json.loads(text)
        except ValueError:
            schema = None
        if not isinstance(schema, dict):
            raise InvalidRequest(f'format must be "json" or a JSON schema object, got "{fmt[:60]}"')
        fmt = schema
    if not isinstance(fmt, dict):
        raise InvalidRequest(f'format must be "json" or a JSON schema object, got {type(fmt).__name__}')
    return _schema_grammar(json.dumps(fmt, sort_keys=True))


@lru_cache(maxsize=64)
def _schema_grammar(schema_text: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(schema_text)
    except Exception as exc:  # the converter asserts and raises freely on schemas it cannot handle
        raise InvalidRequest(f"the format's JSON schema cannot be turned into a grammar: {exc}") from None
