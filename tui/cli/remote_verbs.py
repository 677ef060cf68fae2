"""`ember remote list | add | rm`, and how `--host` / EMBER_HOST become a Backend on the command line."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # asyncio and the backends load only when a remote command runs
    from ember.backend.remote.endpoints import Remote
    from ember.backend.service import Backend


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    from ember.backend.remote.detect import detect
    from ember.backend.remote.endpoints import open_endpoint, target

    where = target(host, api, default_key)
    return open_endpoint(detect(where.address, where.api, where.api_key), where, note)


def connect_if_answers(host: str, api: str | None, default_key: str) -> Backend | None:
    """The Backend for EMBER_HOST when a server answers there at once, else None (this machine is used)."""
    from ember.backend.remote.detect import answers
    from ember.backend.remote.endpoints import open_endpoint, target

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
    from ember.backend.remote.endpoints import remove_remote

    remove_remote(args.name)
    print(f"removed remote '{args.name}'")
    return 0


def _key_column(remote: Remote) -> str:
    if not remote.key_env:
        return "-"
    return f"${remote.key_env} ({'set' if remote.api_key() else 'not set'})"


async def _list() -> int:
    from ember.backend.remote.endpoints import load_remotes
    from ember.backend.remote.probe import probe_all
    from ember.tui.cli.format import table

    remotes = load_remotes()
    if not remotes:
        print('No remotes yet — add one with "ember remote add NAME URL", e.g. '
              '"ember remote add gpu http://gpu-box:8000/v1 --key-env GPU_API_KEY"')
        return 0
    results = await probe_all(remotes)
    rows = [(r.name, r.url, found.api or r.api or "auto", _key_column(r), found.status)
            for r, found in zip(remotes.values(), results)]
    print(table(("NAME", "URL", "API", "KEY", "STATUS"), rows))
    return 0


async def _add(args: argparse.Namespace) -> int:
    from ember.backend.remote.endpoints import Remote, add_remote, check_remote, target
    from ember.backend.remote.probe import probe

    remote = check_remote(Remote(args.name, args.url, args.remote_api or "", args.key_env, args.timeout))
    found = await probe(target(remote.name, None, "", {remote.name: remote}), timeout=5.0)  # worth a wait, once
    if not remote.api and found.answers:
        remote = Remote(remote.name, remote.url, found.api, remote.key_env, remote.timeout)
    add_remote(remote)
    print(f"added remote '{remote.name}': {remote.url} ({remote.api or 'API detected when used'}; {found.status})")
    if remote.key_env and not remote.api_key():
        print(f"Note: ${remote.key_env} is not set in this shell; export it before using this remote", file=sys.stderr)
    print(f'Use it with "ember --host {remote.name} list" or "ember --host {remote.name} run MODEL"')
    return 0
