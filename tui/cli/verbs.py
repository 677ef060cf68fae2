"""What each `ember` verb does, written against the Backend interface only."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ember.backend.errors import CorruptBlob, EmberError, ModelNotFound, PullError
from ember.backend.service import Backend
from ember.backend.types import GenerateRequest, PullProgress
from ember.tui.cli.doctor import cmd_doctor
from ember.tui.cli.format import (
    human_age,
    human_size,
    human_until,
    model_description,
    parameter_lines,
    table,
    timing_block,
)
from ember.tui.cli.streaming import stream_answer, write
from ember.tui.safetext import printable


async def ensure_model(backend: Backend, name: str) -> None:
    """Pull a missing model first, as `ollama run` does."""
    try:
        await backend.show(name)
    except ModelNotFound as missing:
        try:
            await pull_with_progress(backend, name)
        except (PullError, CorruptBlob):
            raise  # where it was looked for and why it failed: the registry's answer, the Hub's, offline
        except EmberError:
            if name.startswith(("hf.co/", "huggingface.co/", "https://", "/", "./", "~")):
                raise
            if type(missing) is ModelNotFound:  # this machine's store: name the model as it was typed
                raise ModelNotFound(name) from None
            raise missing from None  # a server's: its message says where it was looked for


async def pull_with_progress(backend: Backend, name: str, *, insecure: bool = False) -> None:
    await print_progress(backend.pull(name, insecure=insecure))


async def print_progress(events) -> None:
    """Progress of a pull or create on stderr: an updating bar (bytes, rate, ETA) on a terminal, else one line per step."""
    tty = sys.stderr.isatty()
    last, line = "", ""
    meter = _Meter()
    async for event in events:
        line = _progress_line(event, meter)
        if tty:
            if last and event.status != last:
                sys.stderr.write("\n")  # a finished step keeps its line, as Ollama's do
            sys.stderr.write("\r\x1b[K" + line)
        elif event.status != last:
            sys.stderr.write(line + "\n")
        last = event.status
        sys.stderr.flush()
    if tty and line:
        sys.stderr.write("\n")


class _Meter:
    """Transfer rate and time left of the step now in progress."""

    def __init__(self) -> None:
        self.key: tuple[str, str] = ("", "")
        self.start, self.base = 0.0, 0

    def measure(self, event: PullProgress) -> tuple[float, float]:
        import time

        now = time.monotonic()
        if (event.status, event.digest) != self.key or event.completed < self.base:
            self.key, self.start, self.base = (event.status, event.digest), now, event.completed
        elapsed = now - self.start
        rate = (event.completed - self.base) / elapsed if elapsed > 0.2 else 0.0
        return rate, (event.total - event.completed) / rate if rate else 0.0


def _progress_line(event: PullProgress, meter: _Meter | None = None) -> str:
    if not event.total:
        return event.status
    share = event.completed / event.total
    bar = "█" * int(share * 30)
    line = f"{event.status} {share:4.0%} ▕{bar:<30}▏ {human_size(event.completed)}/{human_size(event.total)}"
    rate, left = meter.measure(event) if meter else (0.0, 0.0)
    if rate and event.completed < event.total:
        minutes, seconds = divmod(int(left + 0.5), 60)
        line += f" {human_size(int(rate))}/s {minutes}m{seconds:02d}s"
    return line


async def cmd_run(backend: Backend, args: argparse.Namespace) -> int:
    from ember.tui.launch import wants_plain

    if getattr(args, "default_model", False) and not args.prompt and not wants_plain(args):
        try:  # bare `ember`: a default model that is not here opens the app on its library, pulling nothing
            await backend.show(args.model)
        except ModelNotFound as exc:
            from ember.tui.launch import interactive

            return await interactive(backend, args, missing=str(exc))
    await ensure_model(backend, args.model)
    prompt = " ".join(args.prompt)
    if not sys.stdin.isatty():
        piped = sys.stdin.read()
        prompt = f"{piped}\n{prompt}".strip() if prompt else piped.strip()
    elif not prompt:
        from ember.tui.launch import interactive

        return await interactive(backend, args)
    if not prompt:
        return 0
    think = getattr(args, "think", None)
    prompt, images = await _images_in(backend, args.model, prompt)
    request = GenerateRequest(model=args.model, prompt=prompt, format=args.format, keep_alive=args.keepalive,
                              think=think, images=images)
    # off a terminal (a pipe, a file) the thinking is shown only when --think asked for it, as in Ollama
    shown = not getattr(args, "hidethinking", False) and (sys.stdout.isatty() or think is not None)
    timings = await stream_answer(backend.generate(request), show_thinking=shown)
    if args.verbose and timings:
        print(timing_block(timings), file=sys.stderr)
    return 0


async def _images_in(backend: Backend, model: str, prompt: str) -> tuple[str, list[str]]:
    """For a model that sees, the image files the prompt names, taken out of it (as Ollama's CLI does)."""
    if "vision" not in (await backend.show(model)).capabilities:
        return prompt, []
    from ember.tui.chat.imagepaths import extract_images

    prompt, found = extract_images(prompt)
    for image in found:
        print(f"Added image '{image.path}'", file=sys.stderr)
    return prompt, [image.data for image in found]


async def cmd_list(backend: Backend, args: argparse.Namespace) -> int:
    rows = [(m.name, m.digest.removeprefix("sha256:")[:12], human_size(m.size) if m.size else "-",
             human_age(m.modified_at) if m.modified_at else "-")  # a remote server may not say
            for m in await backend.list_models()]
    print(table(("NAME", "ID", "SIZE", "MODIFIED"), rows))
    return 0


async def cmd_show(backend: Backend, args: argparse.Namespace) -> int:
    info = await backend.show(args.model)
    if args.modelfile:
        write(info.modelfile)
        return 0
    if args.parameters:
        for line in parameter_lines(info.parameters):
            print(printable(line))
        return 0
    for flag, text in (("template", info.template), ("system", info.system), ("license", info.license)):
        if getattr(args, flag):
            print(printable(text))
            return 0
    print(printable(model_description(info)))
    print()
    return 0


async def cmd_pull(backend: Backend, args: argparse.Namespace) -> int:
    await pull_with_progress(backend, args.model, insecure=args.insecure)
    return 0


async def cmd_import(backend: Backend, args: argparse.Namespace) -> int:
    counts = {"imported": 0, "skipped": 0}
    async for result in backend.import_models(args.source, args.path):
        counts[result.status] = counts.get(result.status, 0) + 1
        print(f"{result.status:<9}{result.name}" + (f" — {result.reason}" if result.reason else ""))
    found = sum(counts.values())
    print(f"{found} found, {counts['imported']} imported, {counts['skipped']} skipped")
    return 0


async def cmd_cp(backend: Backend, args: argparse.Namespace) -> int:
    await backend.copy(args.source, args.destination)
    print(f"copied '{args.source}' to '{args.destination}'")
    return 0


async def cmd_rm(backend: Backend, args: argparse.Namespace) -> int:
    if not args.models and not args.partials:
        raise EmberError('name the models to remove ("ember rm MODEL …"), or add --partials to remove '
                         "interrupted downloads")
    for name in args.models:
        await backend.delete(name)
        print(f"deleted '{name}'")
    if args.partials:
        staged = [n for n in await backend.prune(partials=True) if n.startswith(".partial-sha256-")
                  and not n.endswith(".lock")]
        print(f"removed {len(staged)} interrupted download{'' if len(staged) == 1 else 's'}")
    return 0


async def cmd_ps(backend: Backend, args: argparse.Namespace) -> int:
    rows = []
    for m in await backend.running():
        share = m.size_vram / m.size if m.size else 0
        processor = "100% CPU" if share == 0 else "100% GPU" if share >= 1 else f"{1 - share:.0%}/{share:.0%} CPU/GPU"
        rows.append((m.name, m.digest.removeprefix("sha256:")[:12], human_size(m.size), processor,
                     str(m.context_length), human_until(m.expires_at)))
    print(table(("NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"), rows))
    return 0


async def cmd_stop(backend: Backend, args: argparse.Namespace) -> int:
    await backend.unload(args.model)
    return 0


async def cmd_create(backend: Backend, args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise EmberError(f'no Modelfile at "{path}" — write one, or pass its path with -f')
    text = path.read_text(encoding="utf-8")
    await print_progress(backend.create(args.model, text, base_dir=str(path.resolve().parent),
                                        quantize=args.quantize))
    return 0


def serve(args: argparse.Namespace) -> int:
    from ember.backend.api.server import serve_forever

    return serve_forever(listen=args.listen or os.environ.get("EMBER_HOST"))


COMMANDS = {
    "run": cmd_run,
    "list": cmd_list,
    "ls": cmd_list,
    "show": cmd_show,
    "pull": cmd_pull,
    "import": cmd_import,
    "cp": cmd_cp,
    "rm": cmd_rm,
    "ps": cmd_ps,
    "stop": cmd_stop,
    "create": cmd_create,
    "doctor": cmd_doctor,
}
