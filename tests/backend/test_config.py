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
