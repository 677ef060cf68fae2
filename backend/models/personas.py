"""Personas: Modelfiles that ship in `modelfiles/` (and the user's own, in the config directory).

Each is installed as `persona/<slug>:latest` on first use. Its title and place in the list are
leading comments of the Modelfile, `# title: Architect` and `# order: 1`. A persona also applies
to any model client-side (system message, MESSAGE turns, options), which is how the app switches
persona mid-conversation on a local or a remote backend.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ember.backend.errors import EmberError, InvalidName, ModelfileError, ModelNotFound
from ember.backend.models.modelfile import Modelfile, parse_modelfile
from ember.backend.service import Backend
from ember.backend.store.names import DEFAULT_HOST, DEFAULT_TAG, ModelName, parse_name
from ember.backend.types import Message, PullProgress

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "modelfiles"
NAMESPACE = "persona"
SUFFIX = ".Modelfile"
_HEADER = re.compile(r"^\s*#\s*(title|order)\s*:\s*(.*?)\s*$", re.IGNORECASE)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")


@dataclass(frozen=True)
class Persona:
    slug: str  # "architect" (file modelfiles/architect.Modelfile)
    title: str  # short display name, "Architect"
    order: int  # position in the list / hotkey order, 1-based
    model: str  # the store name it is installed as, "persona/architect:latest"
    base: str  # its FROM model name, e.g. "smollm2:135m"
    system: str
    parameters: dict[str, object]  # validated by backend.parameters
    messages: tuple[Message, ...]  # MESSAGE few-shot turns
    source: Path  # the Modelfile it came from

    def modelfile(self) -> Modelfile:
        return parse_modelfile(self.source.read_text(encoding="utf-8"))


def _header(text: str) -> dict[str, str]:
    """`# title:` and `# order:` from the comments before the first instruction."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.lstrip().startswith("#"):
            break
        match = _HEADER.match(line)
        if match:
            found.setdefault(match.group(1).lower(), match.group(2))
    return found


def read_persona(path: Path, default_order: int) -> Persona:
    """One persona from its Modelfile; ModelfileError names the file and the line of a mistake."""
    slug = path.name.removesuffix(SUFFIX).lower()
    if not _SLUG.match(slug):
        raise ModelfileError(f"{path}: the file name must be a valid model name, like my-persona{SUFFIX}")
    try:
        text = path.read_text(encoding="utf-8")
        modelfile = parse_modelfile(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelfileError(f"{path}: cannot read it ({exc})") from None
    except EmberError as exc:
        raise ModelfileError(f"{path}: {exc}") from None
    header = _header(text)
    try:
        order = int(header.get("order", default_order))
    except ValueError:
        raise ModelfileError(f'{path}: "# order:" must be a whole number, got "{header["order"]}"') from None
    return Persona(
        slug=slug,
        title=header.get("title") or slug.replace("-", " ").capitalize(),
        order=order,
        model=f"{NAMESPACE}/{slug}:{DEFAULT_TAG}",
        base=modelfile.base,
        system=modelfile.system or "",
        parameters=dict(modelfile.parameters),
        messages=modelfile.messages,
        source=path,
    )


def load_personas(user_dir: Path | None = None, *, problems: list[EmberError] | None = None) -> list[Persona]:
    """Shipped personas (repo's modelfiles/) plus the user's (config dir's modelfiles/), sorted by order.

    A user's persona with the slug of a shipped one replaces it. A user file with a mistake is
    left out and its error appended to `problems` (when given); a shipped one raises.
    """
    if user_dir is None:
        from ember.backend.config import config_dir

        user_dir = config_dir() / "modelfiles"
    personas: dict[str, Persona] = {}
    for path in sorted(SHIPPED_DIR.glob(f"*{SUFFIX}")):
        persona = read_persona(path, default_order=len(personas) + 1)
        personas[persona.slug] = persona
    after = max((p.order for p in personas.values()), default=0)
    user_files = sorted(user_dir.glob(f"*{SUFFIX}")) if user_dir.is_dir() else []
    for index, path in enumerate(user_files, start=1):
        try:
            persona = read_persona(path, default_order=after + index)
        except EmberError as exc:
            if problems is not None:
                problems.append(exc)
            continue
        personas[persona.slug] = persona
    return sorted(personas.values(), key=lambda p: (p.order, p.slug))


def persona_for(name: ModelName, user_dir: Path | None = None) -> Persona | None:
    """The persona a `persona/<slug>[:latest]` name stands for, if there is one."""
    if name.host != DEFAULT_HOST or name.namespace != NAMESPACE or name.tag != DEFAULT_TAG:
        return None
    return next((p for p in load_personas(user_dir) if p.slug == name.model.lower()), None)


def install_steps(store: object, persona: Persona) -> Iterator[PullProgress]:
    """Create a persona's model in a local store (what LocalBackend does on first use)."""
    from ember.backend.models.create import create_model

    text = persona.source.read_text(encoding="utf-8")
    return create_model(store, parse_name(persona.model), text, persona.source.parent)  # type: ignore[arg-type]


def _normal(parameters: dict[str, object]) -> dict[str, object]:
    return {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in parameters.items()}


async def _is_current(backend: Backend, persona: Persona) -> bool:
    """Whether the installed model has what the persona's Modelfile sets, on the same base."""
    try:
        info = await backend.show(persona.model)
    except ModelNotFound:
        return False
    modelfile = persona.modelfile()
    base_parameters: dict[str, object] = {}
    try:
        base = await backend.show(persona.base)
    except ModelNotFound:
        return False
    except InvalidName:  # FROM a file: its weights are compared by digest when it is created again
        base = None
    if base is not None:
        if info.model_info != base.model_info:
            return False
        base_parameters = base.parameters
    return (
        (modelfile.system is None or info.system == modelfile.system)
        and (not modelfile.messages
             or [(m.role, m.content) for m in info.messages] == [(m.role, m.content) for m in persona.messages])
        and (modelfile.template is None or info.template == modelfile.template)
        and _normal(info.parameters) == _normal({**base_parameters, **persona.parameters})
    )


async def ensure_personas(backend: Backend, personas: list[Persona]) -> None:
    """Create each persona's model through Backend.create when missing or changed (first use)."""
    for persona in personas:
        if await _is_current(backend, persona):
            continue
        text = persona.source.read_text(encoding="utf-8")
        async for _event in backend.create(persona.model, text, base_dir=str(persona.source.parent)):
            pass
