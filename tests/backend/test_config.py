from pathlib import Path

import pytest
from ember.backend.config import Config, load_config, save_settings
from ember.backend.errors import EmberError


def test_defaults_bind_loopback_on_ollamas_port(tmp_path):
    config = load_config(tmp_path / "none.toml", environ={})
    assert config.host == "127.0.0.1:11434"
    assert config.default_model == "smollm2:135m"


def test_environment_overrides_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('keep_alive = "10m"\nnum_parallel = 2\nmodels = "/srv/models"\n')
    config = load_config(path, environ={"EMBER_NUM_PARALLEL": "8"})
    assert config.keep_alive == "10m"
    assert config.num_parallel == 8
    assert config.models == Path("/srv/models")


def test_bad_values_name_where_they_came_from(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("num_parallel = 'many'\n")
    with pytest.raises(EmberError, match="config.toml: num_parallel expects int"):
        load_config(path, environ={})
    with pytest.raises(EmberError, match="not valid TOML"):
        path.write_text("= broken")
        load_config(path, environ={})


def test_save_settings_keeps_the_users_other_keys(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('keep_alive = "1h"\n[remotes.gpu]\nurl = "http://gpu:8000"\n')
    save_settings({"theme": "ember-light"}, path)
    text = path.read_text()
    assert 'theme = "ember-light"' in text and 'keep_alive = "1h"' in text and "gpu:8000" in text
    assert isinstance(load_config(path, environ={}), Config)


def test_flash_attention_takes_ollamas_spellings_and_refuses_others(tmp_path):
    assert load_config(tmp_path / "none.toml", environ={}).flash_attention == "auto"
    assert load_config(tmp_path / "none.toml", environ={"EMBER_FLASH_ATTENTION": "1"}).flash_attention == "on"
    path = tmp_path / "config.toml"
    path.write_text("flash_attention = false\n")
    assert load_config(path, environ={}).flash_attention == "off"
    with pytest.raises(EmberError, match="EMBER_FLASH_ATTENTION: flash_attention expects auto, on or off"):
        load_config(path, environ={"EMBER_FLASH_ATTENTION": "fast"})


def test_kv_cache_type_and_context_length_come_from_the_file_or_the_environment(tmp_path):
    none = tmp_path / "none.toml"
    assert (load_config(none, environ={}).kv_cache_type, load_config(none, environ={}).context_length) == ("f16", 0)
    config = load_config(none, environ={"EMBER_KV_CACHE_TYPE": "Q8_0", "EMBER_CONTEXT_LENGTH": "8192"})
    assert (config.kv_cache_type, config.context_length) == ("q8_0", 8192)
    path = tmp_path / "config.toml"
    path.write_text('kv_cache_type = "q4_0"\ncontext_length = 2048\n')
    assert (load_config(path, environ={}).kv_cache_type, load_config(path, environ={}).context_length) == ("q4_0", 2048)


def test_kv_cache_type_and_context_length_refuse_what_cannot_work_in_one_line(tmp_path):
    none = tmp_path / "none.toml"
    with pytest.raises(EmberError, match=r"^EMBER_KV_CACHE_TYPE: kv_cache_type expects f16, q8_0, q4_0, got 'q2'$"):
        load_config(none, environ={"EMBER_KV_CACHE_TYPE": "q2"})
    with pytest.raises(EmberError, match="kv_cache_type q8_0 needs flash attention: set flash_attention"):
        load_config(none, environ={"EMBER_KV_CACHE_TYPE": "q8_0", "EMBER_FLASH_ATTENTION": "off"})
    assert load_config(none, environ={"EMBER_KV_CACHE_TYPE": "f16", "EMBER_FLASH_ATTENTION": "off"}).flash_attention == "off"
    with pytest.raises(EmberError, match="context_length expects 0 .* got 8$"):
        load_config(none, environ={"EMBER_CONTEXT_LENGTH": "8"})
    with pytest.raises(EmberError, match="EMBER_CONTEXT_LENGTH: context_length expects int"):
        load_config(none, environ={"EMBER_CONTEXT_LENGTH": "big"})


def test_max_queue_is_a_count_of_waiting_answers(tmp_path):
    none = tmp_path / "none.toml"
    assert load_config(none, environ={}).max_queue == 512
    assert load_config(none, environ={"EMBER_MAX_QUEUE": "0"}).max_queue == 0
    with pytest.raises(EmberError, match="max_queue expects 0 or more waiting requests, got -1"):
        load_config(none, environ={"EMBER_MAX_QUEUE": "-1"})
