"""Pull a GGUF file that is already on this machine: hard-linked into the store, copied across file systems."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from ember.backend.errors import PullError
from ember.backend.pull.quant import name_for_file, parse_gguf_name, split_siblings
from ember.backend.pull.register import register_steps
from ember.backend.store.modelstore import ModelStore
from ember.backend.store.names import ModelName
from ember.backend.types import PullProgress


def looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~", ".\\", "..\\")) or text.lower().endswith(".gguf")


def gguf_parts(path: Path) -> list[Path]:
    """`path` alone, or every part of the split GGUF it starts; a clear error for anything else."""
    if path.is_dir():
        firsts = sorted(p for p in path.glob("*.gguf") if parse_gguf_name(p.name).part == 1
                        and not parse_gguf_name(p.name).is_projector)
        if len(firsts) != 1:
            found = ", ".join(p.name for p in firsts) or "none"
            raise PullError(f"{path} is a folder; pull one GGUF file in it (GGUF files there: {found})")
        path = firsts[0]
    if not path.is_file():
        raise PullError(f"no file at {path} — give the path of a .gguf model file")
    parsed = parse_gguf_name(str(path))
    if parsed.parts == 1:
        return [path]
    if parsed.part != 1:
        raise PullError(f"{path.name} is part {parsed.part} of a split model; pull its first part, "
                        f"{split_siblings(parsed)[0].rsplit('/', 1)[-1]}")
    parts = [Path(p) for p in split_siblings(parsed)]
    absent = [p.name for p in parts if not p.is_file()]
    if absent:
        raise PullError(f"the split model {path.name} is incomplete: {', '.join(absent)} missing beside it")
    return parts


def pull(store: ModelStore, path: Path, cancel: threading.Event,
         name: ModelName | None = None) -> Iterator[PullProgress]:
    parts = gguf_parts(path.expanduser().resolve())
    target = name or name_for_file(parts[0].name)
    yield PullProgress(f"registering {parts[0].name} as {target.display()}")
    yield from register_steps(store, target, parts, link=True)
