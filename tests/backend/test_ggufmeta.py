import pytest
from ember.backend.errors import InvalidModelFile
from ember.backend.store.ggufmeta import read_gguf_meta


def test_metadata_of_the_embedded_model(smollm2_gguf):
    meta = read_gguf_meta(smollm2_gguf)
    assert meta.architecture == "llama"
    assert meta.file_type == "Q4_1"
    assert meta.context_length == 8192
    assert meta.embedding_length == 576
    assert meta.parameter_size == "134.52M"
    assert meta.license == "apache-2.0"
    assert "<|im_start|>" in meta.chat_template


def test_a_file_that_is_not_gguf_is_refused_clearly(tmp_path):
    bogus = tmp_path / "model.gguf"
    bogus.write_text("<html>not a model</html>")
    with pytest.raises(InvalidModelFile, match="not a GGUF"):
        read_gguf_meta(bogus)


@pytest.mark.parametrize("keep", [8, 1000, 3_000_000, -1000])
def test_a_truncated_gguf_is_refused_clearly(tmp_path, smollm2_gguf, keep):
    data = smollm2_gguf.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[:keep] if keep > 0 else data[:keep])
    with pytest.raises(InvalidModelFile, match="truncated|not a readable"):
        read_gguf_meta(cut)


def test_the_metadata_alone_agrees_with_the_whole_header(smollm2_gguf):
    from ember.backend.store.ggufmeta import read_gguf_metadata

    kv = read_gguf_metadata(smollm2_gguf)
    whole = read_gguf_meta(smollm2_gguf)
    assert kv["general.architecture"] == whole.architecture == "llama"
    assert kv["llama.context_length"] == whole.context_length
    assert all(kv[key] == value for key, value in whole.kv.items())


def test_the_metadata_of_a_file_that_is_not_gguf_is_refused_clearly(tmp_path):
    from ember.backend.store.ggufmeta import read_gguf_metadata

    bogus = tmp_path / "notes.gguf"
    bogus.write_bytes(b"not a model at all")
    with pytest.raises(InvalidModelFile, match="not a readable GGUF"):
        read_gguf_metadata(bogus)
