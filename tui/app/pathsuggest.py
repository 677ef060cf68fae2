"""Path completion for a one-line question (the Modelfile to create from): the first file or folder
that begins with what is typed, shown after it; Tab or → takes it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from textual.suggester import Suggester


class PathSuggester(Suggester):
    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        head, tail = os.path.split(value)
        folder = Path(os.path.expanduser(head or "."))
        try:
            names = sorted(entry.name for entry in os.scandir(folder)
                           if entry.name.startswith(tail) and (tail.startswith(".") or not entry.name.startswith(".")))
        except OSError:
            return None
        if not names or names[0] == tail:
            return None
        completed = os.path.join(head, names[0])
        return completed + "/" if (folder / names[0]).is_dir() else completed


def suggested_model_name(modelfile: Path) -> str:
    """A name for the model a Modelfile makes: its own (`coder.modelfile`), or its folder's for a plain `Modelfile`."""
    stem = modelfile.stem if modelfile.stem.lower() != "modelfile" else modelfile.resolve().parent.name
    name = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-._")
    return name or "my-model"
