"""Grammar-constrained sampling on the real model: the answer fits the grammar and ends with its value."""

from __future__ import annotations

import json

import pytest
from ember.backend.parameters import Options
from ember.backend.prompt.grammar import ends_at_value, grammar_for_format

from tests.backend.test_engine import GREEDY, chat_tokens

PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}


def constrained(runner, question: str, grammar: str, **options: object) -> tuple[str, object]:
    runner.forget()
    chunks = list(runner.generate(chat_tokens(runner, question), Options.merge(GREEDY, options), grammar=grammar))
    return "".join(c.text for c in chunks), chunks[-1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_json_answer_ends_when_its_object_closes(runner, seed: int) -> None:
    text, final = constrained(runner, "List three fruits in JSON.", grammar_for_format("json"),
                              temperature=0.8, seed=seed, num_predict=120)
    if final.done_reason == "length":  # a sampled object may be long (which seed does so differs by CPU):
        with pytest.raises(json.JSONDecodeError):  # then it is still open, never closed and running on
            json.loads(text)
        return
    assert final.done_reason == "stop"
    assert text.endswith("}") and isinstance(json.loads(text), dict)


def test_a_schema_answer_ends_when_its_object_closes_and_matches(runner) -> None:
    text, final = constrained(runner, "Give me a person as JSON.", grammar_for_format(PERSON), num_predict=80)
    assert final.done_reason == "stop" and text.endswith("}")
    person = json.loads(text)
    assert isinstance(person["name"], str) and isinstance(person["age"], int)


def test_a_token_the_grammar_refuses_is_sampled_again_within_it(runner) -> None:
    # Unconstrained, the model answers this in a sentence: its first choice is refused every time.
    free, _ = constrained(runner, "What is the capital of France?", "", num_predict=4)
    assert free.strip() not in ("yes", "no")
    text, final = constrained(runner, "What is the capital of France?", 'root ::= "yes" | "no"', num_predict=8)
    assert text in ("yes", "no") and final.done_reason == "stop"


def test_the_root_of_a_grammar_allows_no_whitespace_after_its_value() -> None:
    grammar = grammar_for_format("json")
    root = next(line for line in grammar.splitlines() if line.startswith("root ::="))
    assert root.startswith('root ::= "{" ws')
    assert "object ::=" in grammar  # nested objects keep their whitespace
    assert grammar_for_format({"type": "array", "items": {"type": "string"}}).count('"]" space') == 0


def test_a_grammar_whose_root_ends_otherwise_is_left_as_it_is() -> None:
    grammar = 'root ::= "yes" | "no"\n'
    assert ends_at_value(grammar) == grammar


@pytest.mark.parametrize("options", [{}, {"repeat_penalty": 1.3}])
def test_greedy_picks_the_likeliest_allowed_token_as_the_full_pass_would(runner, monkeypatch, options) -> None:
    # On a refusal a greedy chain tries the likeliest tokens in turn; with no tries it matches the whole
    # vocabulary. The answers are the same token for token (penalties included).
    from ember.backend.engine import sampler

    question, grammar = "Invent a person as JSON with a name and an age.", grammar_for_format(PERSON)
    quick, _ = constrained(runner, question, grammar, num_predict=60, **options)
    monkeypatch.setattr(sampler, "TRIES", 0)
    full, _ = constrained(runner, question, grammar, num_predict=60, **options)
    assert quick == full and "age" in json.loads(quick)


@pytest.mark.parametrize(("question", "grammar"), [
    ("Invent a person as JSON with a name and an age.", grammar_for_format(PERSON)),
    ("What is the capital of France?", 'root ::= "yes" | "no"'),  # the argmax is refused at every token
])
def test_a_greedy_chain_beside_a_grammar_checks_the_argmax_first_and_answers_as_its_candidates_do(
        runner, monkeypatch, question: str, grammar: str) -> None:
    from ember.backend.engine.sampler import SamplerChain

    plain = {"repeat_penalty": 1.0, "num_predict": 60}
    chain = SamplerChain(runner.vocab, runner.n_vocab, Options.merge(GREEDY, plain), grammar)
    assert chain.argmax and chain.grammar is not None
    chain.close()
    fast, ended = constrained(runner, question, grammar, **plain)
    built = SamplerChain.__init__

    def candidates_only(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        built(self, *args, **kwargs)
        self.argmax = False

    monkeypatch.setattr(SamplerChain, "__init__", candidates_only)
    loaded, _ = constrained(runner, question, grammar, **plain)
    assert fast and fast == loaded and ended.done_reason == "stop"
