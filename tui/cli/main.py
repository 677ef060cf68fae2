"""The `ember` command: Ollama's verbs (run, list, show, pull, cp, rm, ps, stop, create, serve).

Heavy imports (llama.cpp, Textual) happen inside the commands that need them, so `ember --version`
and `ember list` stay fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ember.backend import __version__
from ember.backend.errors import EmberError, ModelNotFound
from ember.tui.safetext import printable

if TYPE_CHECKING:  # asyncio and the Backend's types load only for the commands that run
    from ember.backend.service import Backend

Command = Callable[["Backend", argparse.Namespace], Awaitable[int]]


def think_value(text: str) -> bool | str:
    """`--think`'s value as Ollama's CLI reads it: true, false, or a level."""
    value = text.strip().lower()
    if value in ("true", "false"):
        return value == "true"
    if value in ("low", "medium", "high"):
        return value
    raise argparse.ArgumentTypeError(f"--think takes true, false, low, medium or high, not {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ember",
        description="Local large language models in the terminal.",
        epilog='Run "ember" alone to chat with the default model.',
    )
    parser.add_argument("-v", "--version", action="store_true", help="show the version and exit")
    parser.add_argument("--host", help="use the server at this URL (Ollama- or OpenAI-compatible), or a named remote")
    parser.add_argument("--api", choices=["ollama", "openai"], help="the server's protocol (default: detected)")
    parser.add_argument("--in-process", action="store_true",
                        help="load the models in this process even when an `ember serve` runs on this machine "
                             "(also EMBER_IN_PROCESS=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a model: answer a prompt, or chat")
    run.add_argument("model")
    run.add_argument("prompt", nargs="*")
    run.add_argument("--verbose", action="store_true", help="print timings after each answer")
    run.add_argument("--format", help='answer format: "json"')
    run.add_argument("--keepalive", help='how long the model stays loaded, e.g. "5m"')
    run.add_argument("--plain", action="store_true", help="a plain line chat instead of the app")
    run.add_argument("--nowordwrap", action="store_true", help="accepted for Ollama compatibility")
    run.add_argument("--think", type=think_value, metavar="true|false|low|medium|high",
                     help="let a thinking model think first (--think), or not (--think=false)")
    run.add_argument("--hidethinking", action="store_true", help="do not print the thinking of a thinking model")
    run.add_argument("--serve", nargs="?", const="", metavar="HOST:PORT",
                     help="the app serves the API too, sharing its loaded models (default: EMBER_HOST)")

    sub.add_parser("list", aliases=["ls"], help="list the models on this machine")
    show = sub.add_parser("show", help="describe a model")
    show.add_argument("model")
    for flag in ("modelfile", "parameters", "template", "system", "license"):
        show.add_argument(f"--{flag}", action="store_true", help=f"print only the {flag}")
    pull = sub.add_parser("pull", help="fetch a model: from Ollama's registry ([host/][namespace/]model[:tag]), "
                          "hf.co/USER/REPO[:QUANT], an https URL or path to a .gguf")
    pull.add_argument("model")
    pull.add_argument("--insecure", action="store_true", help="allow a registry on plain http")
    imports = sub.add_parser("import", help="register the models of Ollama or the Hugging Face cache, without copying")
    imports.add_argument("source", choices=["ollama", "hf-cache"])
    imports.add_argument("--path", help="the store to read (default: OLLAMA_MODELS or ~/.ollama/models; HF_HUB_CACHE)")
    copy = sub.add_parser("cp", help="copy a model under a new name")
    copy.add_argument("source")
    copy.add_argument("destination")
    remove = sub.add_parser("rm", help="remove models")
    remove.add_argument("models", nargs="*")
    remove.add_argument("--partials", action="store_true",
                        help="also remove the downloads kept so an interrupted pull can resume")
    sub.add_parser("ps", help="list the models loaded now")
    stop = sub.add_parser("stop", help="unload a running model")
    stop.add_argument("model")
    create = sub.add_parser("create", help="create a model from a Modelfile")
    create.add_argument("model")
    create.add_argument("-f", "--file", default="Modelfile", help="the Modelfile (default ./Modelfile)")
    create.add_argument("-q", "--quantize", help="quantise the weights, e.g. q4_K_M, q8_0")
    serve = sub.add_parser("serve", help="serve the Ollama API (default 127.0.0.1:11434)")
    serve.add_argument("--listen", help="address to listen on, host:port")
    from ember.tui.cli.remote_verbs import add_parser as add_remote_parser

    add_remote_parser(sub)
    sub.add_parser("doctor", help="the llama.cpp build, CPU, GPUs, and how each model would be offloaded")
    sub.add_parser("help", help="show this help")
    return parser


def open_backend(args: argparse.Namespace) -> Backend:
    from ember.backend.config import load_config

    config = load_config()
    api = getattr(args, "api", None)
    if getattr(args, "host", None):
        from ember.tui.cli.remote_verbs import connect

        return connect(args.host, api, config.api_key)
    explicit = os.environ.get("EMBER_HOST", "")
    if explicit:  # as Ollama's CLI does: use the server named there when one answers
        from ember.tui.cli.remote_verbs import connect_if_answers

        remote = connect_if_answers(explicit, api, config.api_key)
        if remote is not None:
            return remote
        print(f"Note: no server answers at {explicit} (EMBER_HOST); using the models on this machine",
              file=sys.stderr)
    if api:
        raise EmberError("--api says which protocol the --host server speaks; give --host URL too")
    from ember.tui.cli.localserver import running_server_backend

    served = running_server_backend(getattr(args, "command", None), config.host, config.api_key,
                                    getattr(args, "in_process", False))
    if served is not None:  # as Ollama's CLI does: the server running here has the models, loaded once
        args.served_by = served.transport.label
        return served
    from ember.backend.local.local_backend import LocalBackend

    if answers_once(args):  # one answer, then the process ends: one sequence is all it can use
        from dataclasses import replace

        config = replace(config, num_parallel=1)
    return LocalBackend(config)


def answers_once(args: argparse.Namespace) -> bool:
    """`ember run MODEL PROMPT` or piped input: a single answer, not a chat."""
    return getattr(args, "command", None) == "run" and (bool(args.prompt) or not sys.stdin.isatty())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    # a bare --think means true, as in Ollama, and never takes the prompt as its value
    args, extra = parser.parse_known_args(["--think=true" if a == "--think" else a for a in argv])
    # `ember run MODEL --verbose "prompt"`: argparse ends the prompt at the flag; the rest belongs to it.
    if getattr(args, "command", None) == "run" and extra and not any(e.startswith("-") for e in extra):
        args.prompt = [*args.prompt, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.version:
        print(f"ember version is {__version__}")
        return 0
    if args.command == "help":
        parser.print_help()
        return 0
    if args.command == "serve":
        from ember.tui.cli.verbs import serve

        return _guard(lambda: serve(args))
    if args.command == "doctor" and args.host:
        print("Error: ember doctor describes this machine; run it on the machine that serves the models",
              file=sys.stderr)
        return 1
    if args.command == "remote":
        from ember.tui.cli.remote_verbs import cmd_remote

        return _guard(lambda: cmd_remote(args))
    if args.command is None:
        return _guard(lambda: _chat_with_default_model(args))
    from ember.tui.cli import verbs

    handler: Command = verbs.COMMANDS[args.command]
    import asyncio

    return _guard(lambda: asyncio.run(_with_backend(handler, args)))


def _chat_with_default_model(args: argparse.Namespace) -> int:
    """Bare `ember`: `ember run` with the configured default model (reading the config may fail)."""
    from ember.backend.config import load_config

    args.command, args.model, args.prompt = "run", load_config().default_model, []
    args.verbose, args.format, args.keepalive, args.plain = False, None, None, False
    args.default_model = True  # a missing one opens the app's library instead of ending
    args.serve = None
    import asyncio

    from ember.tui.cli import verbs

    return asyncio.run(_with_backend(verbs.COMMANDS["run"], args))


async def _with_backend(handler: Command, args: argparse.Namespace) -> int:
    backend = open_backend(args)
    try:
        return await handler(backend, args)
    finally:
        await backend.close()


def _guard(call: Callable[[], int]) -> int:
    """Turn the errors a user can cause into one line on stderr, never a traceback."""
    try:
        return call()
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except ModelNotFound as exc:
        print(f"Error: {printable(str(exc))}", file=sys.stderr)
        return 1
    except EmberError as exc:  # a server's message may hold anything
        print(f"Error: {printable(str(exc))}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
