"""The personas the app offers (the shipped ones and the user's, in their declared order), and saving
a persona's parameters to the user's Modelfile, which is the source of truth for its model."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ember.backend.errors import EmberError
from ember.backend.service import Backend

if TYPE_CHECKING:
    from ember.backend.models.personas import Persona


def available_personas() -> tuple[list[Persona], list[str]]:
    """The personas, and one line for each persona file that could not be read."""
    from ember.backend.models.personas import load_personas

    problems: list[EmberError] = []
    try:
        personas = list(load_personas(problems=problems))
    except EmberError as exc:
        return [], [f"personas: {exc}"]
    return personas, [f"persona left out: {p}" for p in problems]


def user_persona_dir() -> Path:
    from ember.backend.config import config_dir

    return config_dir() / "modelfiles"


def _leading_comments(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            break
        if line.strip():
            lines.append(line.rstrip())
    return lines


def _anchored(value: str, folder: Path) -> str:
    """A relative FROM/ADAPTER file path made absolute, so the Modelfile still works in another folder."""
    path = Path(value).expanduser()
    if path.is_absolute() or not (folder / path).exists():
        return value
    return os.path.abspath(folder / path)


def persona_modelfile(persona: Persona, parameters: dict[str, object]) -> str:
    """The persona's Modelfile with `parameters`; its leading comments (`# title:`, `# order:`) kept."""
    from ember.backend.models.modelfile import parse_modelfile, render_modelfile

    text = persona.source.read_text(encoding="utf-8")
    folder = persona.source.parent
    modelfile = parse_modelfile(text)
    modelfile = dataclasses.replace(
        modelfile, base=_anchored(modelfile.base, folder),
        adapters=tuple(_anchored(a, folder) for a in modelfile.adapters), parameters=dict(parameters))
    header = _leading_comments(text)
    keys = {line.lstrip("# ").split(":", 1)[0].strip().lower() for line in header}
    if "order" not in keys:
        header.insert(0, f"# order: {persona.order}")
    if "title" not in keys:
        header.insert(0, f"# title: {persona.title}")
    return "\n".join(header) + ("\n" if header else "") + render_modelfile(modelfile)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


async def save_persona(backend: Backend, persona: Persona, parameters: dict[str, object], user_dir: Path
                       ) -> Persona:
    """Save `parameters` as the persona's: (re)create its model through the backend, then write the
    user's `<slug>.Modelfile` (which overrides a shipped one), so the next start finds the model current.
    Returns the persona as read back from that file."""
    from ember.backend.models.personas import SUFFIX, read_persona

    text = persona_modelfile(persona, parameters)
    async for _ in backend.create(persona.model, text, base_dir=str(user_dir)):
        pass
    path = user_dir / f"{persona.slug}{SUFFIX}"
    try:
        _write_atomically(path, text)
    except OSError as exc:
        raise EmberError(f"could not write {path} ({exc.strerror}) — the model {persona.model} has the new "
                         "parameters, but they will not survive a restart") from None
    return read_persona(path, default_order=persona.order)
