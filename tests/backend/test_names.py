import pytest
from ember.backend.errors import InvalidName
from ember.backend.store.names import ModelName, parse_digest, parse_name


@pytest.mark.parametrize(
    "text, parts, display",
    [
        ("smollm2", ("registry.ollama.ai", "library", "smollm2", "latest"), "smollm2:latest"),
        ("smollm2:135m", ("registry.ollama.ai", "library", "smollm2", "135m"), "smollm2:135m"),
        ("ember/architect", ("registry.ollama.ai", "ember", "architect", "latest"), "ember/architect:latest"),
        ("hf.co/bartowski/Llama-3.2-1B-GGUF:Q4_K_M",
         ("hf.co", "bartowski", "Llama-3.2-1B-GGUF", "Q4_K_M"), "hf.co/bartowski/Llama-3.2-1B-GGUF:Q4_K_M"),
        ("huggingface.co/a/b", ("hf.co", "a", "b", "latest"), "hf.co/a/b:latest"),
        ("localhost:5000/ns/m:v1", ("localhost:5000", "ns", "m", "v1"), "localhost:5000/ns/m:v1"),
        ("  llama3.2:1b  ", ("registry.ollama.ai", "library", "llama3.2", "1b"), "llama3.2:1b"),
    ],
)
def test_names_parse_like_ollama(text, parts, display):
    name = parse_name(text)
    assert name.parts == parts
    assert name.display() == display


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "required"),
        ("   ", "required"),
        ("my model", "spaces"),
        ("../../etc/passwd", "path"),
        ("/etc/passwd", "path"),
        ("..", "path"),
        ("a/../b", "path"),
        ("~/.ssh/id_rsa", "path"),
        ("a\\b", "path"),
        ("a/b/c/d", "expected"),
        ("model:", "tag"),
        (":tag", "model"),
        ("ns/.hidden", "model"),
        ("-rf", "model"),
        ("x" * 81, "model"),
        ("m:t@g", "tag"),
    ],
)
def test_names_that_could_escape_or_are_malformed_are_refused(text, reason):
    with pytest.raises(InvalidName) as err:
        parse_name(text)
    assert reason in str(err.value)


def test_digests_must_be_sha256_hex():
    hexd = "a" * 64
    assert parse_digest(f"sha256:{hexd}") == hexd
    assert parse_digest(f"sha256-{hexd}") == hexd
    for bad in ("sha256:../../x", f"sha256:{hexd[:-1]}", f"md5:{hexd}", f"sha256:{hexd}/x", "sha256:" + "G" * 64):
        with pytest.raises(InvalidName):
            parse_digest(bad)


def test_name_is_hashable_value():
    assert parse_name("smollm2:135m") == ModelName("registry.ollama.ai", "library", "smollm2", "135m")
