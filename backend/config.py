"""Settings: defaults < `config.toml` in the user's config directory < environment variables.

Command-line flags override all three; the CLI applies them with `dataclasses.replace`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w
from ember.backend.cachetypes import cache_type, cache_type_setting
from ember.backend.errors import EmberError

APP_NAME = "ember"
DEFAULT_MODEL = "smollm2:135m"
DEFAULT_HOST = "127.0.0.1:11434"


def config_dir() -> Path:
    return Path(os.environ.get("EMBER_CONFIG") or platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    return Path(os.environ.get("EMBER_DATA") or platformdirs.user_data_dir(APP_NAME))


@dataclass(frozen=True)
class Config:
    models: Path = field(default_factory=lambda: data_dir() / "models")
    host: str = DEFAULT_HOST
    default_model: str = DEFAULT_MODEL
    keep_alive: str = "5m"
    num_parallel: int = 4
    max_loaded_models: int = 3
    max_queue: int = 512  # answers that may wait beyond those the loaded models decode at once
    num_thread: int = 0  # 0: every physical core the machine has
    flash_attention: str = "auto"  # auto (llama.cpp's choice), on, off
    kv_cache_type: str = "f16"  # f16, q8_0, q4_0 (backend.cachetypes)
    context_length: int = 0  # num_ctx where neither the model nor the request sets one (0: 4096)
    origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    pull_hosts: tuple[str, ...] = ()  # hosts a URL pull over the API may reach on a private or loopback address
    api_key: str = ""
    theme: str = "ember-dark"

    @property
    def config_file(self) -> Path:
        return config_dir() / "config.toml"


_ENV = {
    "EMBER_MODELS": "models",
    "EMBER_HOST": "host",
    "EMBER_DEFAULT_MODEL": "default_model",
    "EMBER_KEEP_ALIVE": "keep_alive",
    "EMBER_NUM_PARALLEL": "num_parallel",
    "EMBER_MAX_LOADED_MODELS": "max_loaded_models",
    "EMBER_MAX_QUEUE": "max_queue",
    "EMBER_NUM_THREAD": "num_thread",
    "EMBER_FLASH_ATTENTION": "flash_attention",
    "EMBER_KV_CACHE_TYPE": "kv_cache_type",
    "EMBER_CONTEXT_LENGTH": "context_length",
    "EMBER_ORIGINS": "origins",
    "EMBER_ALLOWED_HOSTS": "allowed_hosts",
    "EMBER_PULL_HOSTS": "pull_hosts",
    "EMBER_API_KEY": "api_key",
}


def _coerce(name: str, value: Any, where: str) -> Any:  # a TOML value or an environment string
    kinds = {f.name: f.type for f in fields(Config)}
    kind = kinds[name]
    try:
        if kind == "Path":
            return Path(str(value)).expanduser()
        if kind == "int":
            return int(value)
        if kind == "tuple[str, ...]":
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            return tuple(str(v) for v in value)
        if name == "flash_attention":
            return flash_attention_setting(value, where)
        if name == "kv_cache_type":
            return cache_type_setting(value, where)
        return str(value)
    except (TypeError, ValueError):
        raise EmberError(f"{where}: {name} expects {kind.replace('tuple[str, ...]', 'a list')}, got {value!r}")


FLASH_ATTENTION = {"auto": "auto", "on": "on", "off": "off", "1": "on", "0": "off", "true": "on", "false": "off"}


def flash_attention_setting(value: Any, where: str) -> str:
    """`auto`, `on` or `off` (also 1/0 and true/false, as Ollama's OLLAMA_FLASH_ATTENTION takes them)."""
    setting = FLASH_ATTENTION.get(str(value).strip().lower())
    if setting is None:
        raise EmberError(f"{where}: flash_attention expects auto, on or off, got {value!r}")
    return setting


def load_config(path: Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Read config.toml (if any), then apply EMBER_* environment variables."""
    environ = dict(os.environ) if environ is None else environ
    path = path or config_dir() / "config.toml"
    values: dict[str, Any] = {}
    known = {f.name for f in fields(Config)}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise EmberError(f"{path}: not valid TOML ({exc}) — fix or delete the file")
        for key, value in data.items():
            if key in known:
                values[key] = _coerce(key, value, str(path))
    for env_name, key in _ENV.items():
        if environ.get(env_name):
            values[key] = _coerce(key, environ[env_name], env_name)
    return _checked(replace(Config(), **values))


MOST_CONTEXT = 1 << 20  # num_ctx's own bound (backend.parameters)


def _checked(config: Config) -> Config:
    """Settings that each read fine but cannot go together."""
    if cache_type(config.kv_cache_type).quantized and config.flash_attention == "off":
        raise EmberError(f"kv_cache_type {config.kv_cache_type} needs flash attention: set flash_attention "
                         "(EMBER_FLASH_ATTENTION) to auto or on, or kv_cache_type to f16")
    if config.max_queue < 0:
        raise EmberError(f"max_queue expects 0 or more waiting requests, got {config.max_queue}")
    if config.context_length and not 16 <= config.context_length <= MOST_CONTEXT:
        raise EmberError(f"context_length expects 0 (the default, 4096) or 16 to {MOST_CONTEXT} tokens, "
                         f"got {config.context_length}")
    return config


def save_settings(updates: dict[str, object], path: Path | None = None) -> None:
    """Merge `updates` into config.toml, keeping the user's other keys; written atomically."""
    path = path or config_dir() / "config.toml"
    data: dict[str, object] = {}
    if path.exists():
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    data.update(updates)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
