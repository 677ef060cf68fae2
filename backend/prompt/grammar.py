"""Structured outputs: turn Ollama's `format` ("json" or a JSON schema) into a llama.cpp grammar.

The grammar constrains sampling token by token, so the answer always parses and matches the schema.
No whitespace is allowed after the top-level value: once it closes, the only token left is the end
of the answer, so a JSON answer ends there instead of running on in newlines until num_predict.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from ember.backend.errors import InvalidRequest


def grammar_for_format(fmt: str | dict[str, Any]) -> str:
    """A GBNF grammar for `format`: "json" for any JSON object, or a JSON schema (a dict or its text)."""
    if isinstance(fmt, str):
        text = fmt.strip()
        if text == "json":
            from llama_cpp.llama_grammar import JSON_GBNF

            return ends_at_value(JSON_GBNF)
        try:
            schema = json.loads(text)
        except ValueError:
            schema = None
        if not isinstance(schema, dict):
            raise InvalidRequest(f'format must be "json" or a JSON schema object, got "{fmt[:60]}"')
        fmt = schema
    if not isinstance(fmt, dict):
        raise InvalidRequest(f'format must be "json" or a JSON schema object, got {type(fmt).__name__}')
    return _schema_grammar(json.dumps(fmt))  # the properties in the schema's order: the answer's keys follow it


@lru_cache(maxsize=64)
def _schema_grammar(schema_text: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return ends_at_value(_SPACE.sub(SPACE, json_schema_to_gbnf(schema_text)))
    except Exception as exc:  # the converter asserts and raises freely on schemas it cannot handle
        raise InvalidRequest(f"the format's JSON schema cannot be turned into a grammar: {exc}") from None


# llama.cpp's own schema converter (its server's and Ollama's) lets a model break lines and indent between
# tokens, a little; the Python one allows one space only, so each newline a model writes is refused and
# sampled again over the whole vocabulary, several milliseconds a time
SPACE = r'space ::= | " " | "\\n"{1,2} [ \\t]{0,20}'
_SPACE = re.compile(r'^space ::= " "\?$', re.MULTILINE)
_RULE_START = re.compile(r"^([A-Za-z0-9_-]+)\s*::=", re.MULTILINE)
_RULE_NAME = re.compile(r"[A-Za-z0-9_-]+")
_TRAILING_SPACE = re.compile(r"\s+(?:ws|space)\s*\Z")  # the whitespace rules of both grammar sources


def ends_at_value(grammar: str) -> str:
    """`grammar` with its root rule's trailing whitespace removed (the rule it names inlined first).

    A grammar whose root does not end in the whitespace rule comes back unchanged.
    """
    starts = list(_RULE_START.finditer(grammar))
    spans = {m.group(1): (m.start(), starts[i + 1].start() if i + 1 < len(starts) else len(grammar), m.end())
             for i, m in enumerate(starts)}
    if "root" not in spans:
        return grammar
    start, end, body_at = spans["root"]
    body = grammar[body_at:end].strip()
    if _RULE_NAME.fullmatch(body) and body in spans:
        _, named_end, named_at = spans[body]
        body = grammar[named_at:named_end].strip()
    closed = _TRAILING_SPACE.sub("", body)
    if closed == body:
        return grammar
    return f"{grammar[:start]}root ::= {closed}\n{grammar[end:]}"
