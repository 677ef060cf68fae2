"""An `ember serve` already running on this machine: the CLI and the app use it, as Ollama's CLI always
talks to its server, instead of loading a second copy of the models in their own process.

Only a server on a loopback address that says it is ember (`ember_version` in /api/version) is used;
`--in-process` or EMBER_IN_PROCESS=1 keep the models in the command's own process."""

from __future__ import annotations

import http.client
import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ember.backend.remote.ollama_backend import RemoteBackend

IN_PROCESS_ENV = "EMBER_IN_PROCESS"
PROBE_TIMEOUT = 0.5  # seconds; a port where nothing listens is refused at once, so this is paid only on a hang
# the commands that ask the models that are loaded (or change them): the rest work on this machine's files
SERVED_COMMANDS = frozenset({"run", "list", "ls", "show", "ps", "stop", "cp", "rm"})


def in_process_wanted(flag: bool, environ: dict[str, str] | None = None) -> bool:
    environ = dict(os.environ) if environ is None else environ
    return flag or environ.get(IN_PROCESS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def loopback_address(host: str) -> tuple[str, int] | None:
    """Where to reach the configured `host` from this machine, when it is this machine; else None."""
    import ipaddress

    from ember.backend.api.server import parse_listen
    from ember.backend.errors import EmberError

    try:
        name, port = parse_listen(host)
    except EmberError:
        return None
    if name in ("0.0.0.0", "::", ""):  # listening everywhere includes loopback
        return "127.0.0.1", port
    if name == "localhost":
        return name, port
    try:
        return (name, port) if ipaddress.ip_address(name).is_loopback else None
    except ValueError:
        return None


def ember_server_url(host: str, api_key: str = "", timeout: float = PROBE_TIMEOUT) -> str | None:
    """The URL of an ember server answering at `host` on this machine, or None."""
    address = loopback_address(host)
    if address is None:
        return None
    name, port = address
    connection = http.client.HTTPConnection(name, port, timeout=timeout)
    try:
        connection.request("GET", "/api/version", headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
        response = connection.getresponse()
        body = json.loads(response.read(4096)) if response.status == 200 else {}
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    if not isinstance(body, dict) or not body.get("ember_version"):
        return None
    shown = f"[{name}]" if ":" in name else name
    return f"http://{shown}:{port}"


def running_server_backend(command: str | None, host: str, api_key: str, in_process: bool
                           ) -> RemoteBackend | None:
    """The Backend of the `ember serve` running here, for a command that should use it; else None."""
    if command not in SERVED_COMMANDS or in_process_wanted(in_process):
        return None
    url = ember_server_url(host, api_key)
    if url is None:
        return None
    from ember.backend.remote.ollama_backend import RemoteBackend

    return RemoteBackend(url, api_key, label=f"ember serve {url.removeprefix('http://')}")
