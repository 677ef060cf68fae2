"""Hypothesis over the parsers a stranger's text reaches: names, digests and Modelfiles.

Whatever the input, each either answers or raises its own one-line error, and a name it accepts
always maps to a path inside the store.
"""

from __future__ import annotations

from pathlib import Path

from ember.backend.errors import InvalidName, ModelfileError
from ember.backend.models.modelfile import parse_modelfile, render_modelfile
from ember.backend.store.modelstore import ModelStore
from ember.backend.store.names import parse_digest, parse_name
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

STORE = ModelStore(Path("/srv/ember-store"))
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text that looks like names and paths: separators, dots, colons, escapes and the odd character
PIECES = [*"ab01._-:/\\~%2fe@ \x00\n\u2215", "..", "sha256", "%2e", "hf.co", "library", "latest", "0" * 64]
NAMEISH = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)
TEXT = st.one_of(NAMEISH, st.text(max_size=60))


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


@FAST
@given(TEXT)
def test_a_name_either_parses_to_a_path_inside_the_store_or_is_refused(text: str) -> None:
    try:
        name = parse_name(text)
    except InvalidName as exc:
        assert str(exc) and "\n" not in str(exc).replace(text, "")
        return
    for part in name.parts:
        assert part not in ("", ".", "..") and "/" not in part and "\\" not in part and "\x00" not in part
    assert _inside(STORE.manifest_path(name), STORE.manifests)
    assert parse_name(name.display()) == name  # what is shown parses back to the same model


@FAST
@given(TEXT)
def test_a_digest_is_64_hex_digits_or_refused(text: str) -> None:
    try:
        hex_digits = parse_digest(text)
    except InvalidName:
        return
    assert len(hex_digits) == 64 and set(hex_digits) <= set("0123456789abcdef")
    assert _inside(STORE.blob_path(text), STORE.blobs)


@FAST
@given(st.text("0123456789abcdef", min_size=64, max_size=64))
def test_well_formed_digests_always_parse(hex_digits: str) -> None:
    assert parse_digest(f"sha256:{hex_digits}") == hex_digits
    assert parse_digest(f"sha256-{hex_digits}") == hex_digits


INSTRUCTION = st.sampled_from(["FROM", "PARAMETER", "SYSTEM", "TEMPLATE", "MESSAGE", "ADAPTER", "LICENSE",
                               "from", "Parameter", "#", "BOGUS", ""])
VALUE = st.one_of(st.text(max_size=30), st.sampled_from(['"""', '"', '\\"', "temperature 0.5", "num_ctx 1e9",
                                                         "user hi", "stop \"x\"", "../../x", "nan", "-1"]))
LINE = st.tuples(INSTRUCTION, st.sampled_from([" ", "\t", "", "  "]), VALUE).map("".join)
MODELFILE = st.one_of(st.lists(LINE, max_size=8).map("\n".join), st.text(max_size=200))


@FAST
@given(MODELFILE)
def test_any_modelfile_text_parses_or_names_its_mistake(text: str) -> None:
    try:
        modelfile = parse_modelfile(text)
    except ModelfileError as exc:
        assert str(exc).startswith("Modelfile line") or exc.line == 0
        return
    again = parse_modelfile(render_modelfile(modelfile))
    assert again == modelfile
