"""`ember remote list | add | rm`, and how `--host` / EMBER_HOST become a Backend on the command line."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from backend.errors import EmberError, RemoteError, Unauthorized

if TYPE_CHECKING:  # asyncio and the backends load only when a remote command runs
    from backend.remotes import Remote, Target
    from backend.service import Backend

PROBE_TIMEOUT = 2.0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    remote = sub.add_parser("remote", help="named servers (Ollama- or OpenAI-compatible): list, add, rm")
    actions = remote.add_subparsers(dest="remote_command", metavar="ACTION")
    actions.add_parser("list", aliases=["ls"], help="the named servers and whether each answers")
    add = actions.add_parser("add", help="name a server: ember remote add gpu http://gpu-box:8000/v1")
    add.add_argument("name")
    add.add_argument("url")
    add.add_argument("--api", dest="remote_api", choices=["ollama", "openai"], help="its protocol (default: detected)")
    add.add_argument("--key-env", default="", help="the environment variable that holds its API key")
    add.add_argument("--timeout", type=float, help="seconds it may stay silent before ember gives up (default 300)")
    rm = actions.add_parser("rm", help="forget a named server")
    rm.add_argument("name")


def note(message: str) -> None:
    """How the command line reports a parameter a server ignores."""
    print(f"Note: {message}", file=sys.stderr)


def connect(host: str, api: str | None, default_key: str) -> Backend:
    """The Backend for `--host`: a named remote or an address; the protocol detected unless given."""
    from backend.remote_detect import detect
    from backend.remotes import open_endpoint, target

    where = target(host, api, default_key)
    return open_endpoint(detect(where.address, where.api, where.api_key), where, note)


def connect_if_answers(host: str, api: str | None, default_key: str) -> Backend | None:
    """The Backend for EMBER_HOST when a server answers there at once, else None (this machine is used)."""
    from backend.remote_detect import answers
    from backend.remotes import open_endpoint, target

    where = target(host, api, default_key)
    endpoint = answers(where.address, where.api, where.api_key)
    return open_endpoint(endpoint, where, note) if endpoint is not None else None


def cmd_remote(args: argparse.Namespace) -> int:
    import asyncio

    action = getattr(args, "remote_command", None)
    if action in ("list", "ls", None):
        return asyncio.run(_list())
    if action == "add":
        return asyncio.run(_add(args))
    from backend.remotes import remove_remote

    remove_remote(args.name)
    print(f"removed remote '{args.name}'")
    return 0


async def probe(where: Target, timeout: float = PROBE_TIMEOUT) -> tuple[str, str]:
    """(api, status line) of one endpoint, within `timeout`; never raises for a server's failure."""
    import asyncio

    from backend.remote_detect import detect_async
    from backend.remotes import open_endpoint

    try:
        endpoint = await asyncio.wait_for(detect_async(where.address, where.api, where.api_key, timeout), timeout)
        backend = open_endpoint(endpoint, where, lambda _: None)
        try:
            models = await asyncio.wait_for(backend.list_models(), timeout)
        finally:
            await backend.close()
    except TimeoutError:
        return where.api or "", "no answer"
    except Unauthorized:
        return where.api or "", "refused the key" if where.api_key else "needs a key"
    except RemoteError as exc:
        text = str(exc)
        status = "no answer" if "no answer" in text else "unreachable" if "cannot reach" in text else \
            "not an Ollama/OpenAI API"
        return where.api or "", status
    except EmberError as exc:
        return where.api or "", f"error: {str(exc)[:60]}"
    count = len(models)
    return endpoint.api, f"answers, {count} model{'s' if count != 1 else ''}"


def _key_column(remote: Remote) -> str:
    if not remote.key_env:
        return "-"
    return f"${remote.key_env} ({'set' if remote.api_key() else 'not set'})"


async def _list() -> int:
    import asyncio

    from backend.remotes import load_remotes, target
    from tui.format import table

    remotes = load_remotes()
    if not remotes:
        print('No remotes yet — add one with "ember remote add NAME URL", e.g. '
              '"ember remote add gpu http://gpu-box:8000/v1 --key-env GPU_API_KEY"')
        return 0
    results = await asyncio.gather(*(probe(target(name, None, "", remotes)) for name in remotes))
    rows = [(r.name, r.url, api or r.api or "auto", _key_column(r), status)
            for r, (api, status) in zip(remotes.values(), results)]
    print(table(("NAME", "URL", "API", "KEY", "STATUS"), rows))
    return 0


async def _add(args: argparse.Namespace) -> int:
    from backend.remotes import Remote, add_remote, check_remote, target

    remote = check_remote(Remote(args.name, args.url, args.remote_api or "", args.key_env, args.timeout))
    api, status = await probe(target(remote.name, None, "", {remote.name: remote}))
    if not remote.api and api:
        remote = Remote(remote.name, remote.url, api, remote.key_env, remote.timeout)
    add_remote(remote)
    print(f"added remote '{remote.name}': {remote.url} ({remote.api or 'API detected when used'}; {status})")
    if remote.key_env and not remote.api_key():
        print(f"Note: ${remote.key_env} is not set in this shell; export it before using this remote", file=sys.stderr)
    print(f'Use it with "ember --host {remote.name} list" or "ember --host {remote.name} run MODEL"')
    return 0
