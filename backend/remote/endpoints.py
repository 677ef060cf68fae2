"""Named endpoints: `[remotes.NAME]` tables in config.toml, and opening a Backend for a host or a name.

    [remotes.gpu]
    url = "http://gpu-box:8000/v1"
    api = "openai"          # or "ollama"; left out: detected when used
    key_env = "GPU_API_KEY" # the environment variable that holds its key
    timeout = 600           # seconds the server may stay silent (default 300)

A key is never stored here, only the name of the variable that holds it; a URL carrying
credentials or a query string is refused for the same reason.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ember.backend.errors import EmberError
from ember.backend.remote.address import check_api, server_url
from ember.backend.service import Backend

if TYPE_CHECKING:
    from ember.backend.remote.detect import Endpoint

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Remote:
    name: str
    url: str
    api: str = ""  # "", "ollama" or "openai"
    key_env: str = ""
    timeout: float | None = None

    def api_key(self, environ: dict[str, str] | None = None) -> str:
        environ = dict(os.environ) if environ is None else environ
        return environ.get(self.key_env, "") if self.key_env else ""

    def to_toml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"url": self.url}
        if self.api:
            data["api"] = self.api
        if self.key_env:
            data["key_env"] = self.key_env
        if self.timeout is not None:
            data["timeout"] = self.timeout
        return data


def _config_file(path: Path | None) -> Path:
    from ember.backend.config import config_dir

    return path or config_dir() / "config.toml"


def check_remote(remote: Remote) -> Remote:
    """The remote with its URL normalised; EmberError naming what is wrong."""
    if not _NAME.match(remote.name):
        raise EmberError(f'"{remote.name}" cannot name a remote: use letters, digits, - and _ (up to 32), e.g. gpu-box')
    parts = urlsplit(remote.url if "://" in remote.url else "http://" + remote.url)
    if parts.username or parts.password or parts.query:
        raise EmberError("the URL must not carry a key or a password: put the key in an environment variable "
                         "and name it with --key-env VAR")
    if remote.key_env and not _ENV_NAME.match(remote.key_env):
        raise EmberError("--key-env takes the NAME of the environment variable that holds the key (like "
                         "GPU_API_KEY), not the key itself")
    if remote.timeout is not None and not remote.timeout > 0:
        raise EmberError(f"the timeout of remote {remote.name} must be a number of seconds above 0")
    return Remote(remote.name, server_url(remote.url), check_api(remote.api) or "", remote.key_env, remote.timeout)


def load_remotes(path: Path | None = None) -> dict[str, Remote]:
    """The remotes in config.toml, by name; a malformed entry is one error that names it."""
    path = _config_file(path)
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EmberError(f"{path}: not valid TOML ({exc}) — fix or delete the file") from None
    table = data.get("remotes") or {}
    if not isinstance(table, dict):
        raise EmberError(f"{path}: remotes must be a table of [remotes.NAME] entries")
    remotes = {}
    for name, entry in table.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise EmberError(f'{path}: [remotes.{name}] needs url = "http://host:port"')
        timeout = entry.get("timeout")
        try:
            remote = check_remote(Remote(name, entry["url"], str(entry.get("api") or ""),
                                         str(entry.get("key_env") or ""),
                                         float(timeout) if timeout is not None else None))
        except (EmberError, TypeError, ValueError) as exc:
            raise EmberError(f"{path}: [remotes.{name}]: {exc}") from None
        remotes[name] = remote
    return remotes


def _write(remotes: dict[str, Remote], path: Path | None) -> None:
    from ember.backend.config import save_settings

    save_settings({"remotes": {name: r.to_toml() for name, r in sorted(remotes.items())}}, _config_file(path))


def add_remote(remote: Remote, path: Path | None = None) -> Remote:
    remote = check_remote(remote)
    remotes = load_remotes(path)
    remotes[remote.name] = remote
    _write(remotes, path)
    return remote


def remove_remote(name: str, path: Path | None = None) -> None:
    remotes = load_remotes(path)
    if name not in remotes:
        known = ", ".join(remotes) or "none yet"
        raise EmberError(f'no remote "{name}" — the remotes are: {known} (see "ember remote list")')
    del remotes[name]
    _write(remotes, path)


@dataclass(frozen=True)
class Target:
    """Where `--host` (or EMBER_HOST) points: an address, or a named remote, with its key and settings."""

    address: str
    api: str | None
    api_key: str
    label: str  # what to pass to --host to get here again
    timeout: float | None = None


def target(host: str, api: str | None, default_key: str, remotes: dict[str, Remote] | None = None,
           environ: dict[str, str] | None = None) -> Target:
    """A named remote when `host` names one (its own key variable), else the address with `default_key`."""
    remotes = load_remotes() if remotes is None else remotes
    remote = remotes.get(host)
    if remote is not None:
        return Target(remote.url, check_api(api) or remote.api or None, remote.api_key(environ), remote.name,
                      remote.timeout)
    return Target(host, check_api(api), default_key, host)


def open_endpoint(endpoint: Endpoint, where: Target, notify: Callable[[str], None] | None = None) -> Backend:
    """The Backend for a detected (or forced) endpoint."""
    if endpoint.api == "openai":
        from ember.backend.remote.openai_backend import OpenAIBackend

        return OpenAIBackend(endpoint.url, where.api_key, timeout=where.timeout, label=where.label, notify=notify)
    from ember.backend.remote.ollama_backend import RemoteBackend

    return RemoteBackend(endpoint.url, where.api_key, timeout=where.timeout, label=where.label)
