"""The house rules, read from the source: which layer may import which, and what gets installed."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRONT_ENDS = ("ember.tui", "ember.backend.api")
ENGINE_AND_STORE = ("ember.backend.engine", "ember.backend.store")
# The one door from a user's string to a store path: front ends check names and digests with it.
DOOR = "ember.backend.store.names"
# Where a front end builds the in-process backend: the command line's and the server's composition roots.
COMPOSITION_ROOTS = {"ember.tui.cli.main", "ember.backend.api.server"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return "ember." + ".".join(parts)


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("ember.")}


def sources(*tops: str) -> list[Path]:
    return sorted(p for top in tops for p in (ROOT / top).rglob("*.py"))


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == pkg or name.startswith(pkg + ".") for pkg in packages)


@pytest.mark.parametrize("path", sources("backend", "tui"), ids=lambda p: str(p.relative_to(ROOT)))
def test_layers_import_only_downwards(path: Path) -> None:
    me = module_name(path)
    imported = imports_of(path)
    if within(me, FRONT_ENDS):
        wrong = {m for m in imported if within(m, ENGINE_AND_STORE) and not within(m, (DOOR,))}
        if me not in COMPOSITION_ROOTS:
            wrong |= {m for m in imported if within(m, ("ember.backend.local",))}
        assert not wrong, f"{me} is a front end and reaches past the Backend interface: {sorted(wrong)}"
    if within(me, ENGINE_AND_STORE):
        wrong = {m for m in imported if within(m, FRONT_ENDS + ("ember.backend.local", "ember.backend.remote"))}
        assert not wrong, f"{me} is below the backends and imports above itself: {sorted(wrong)}"
    if within(me, ("ember.backend",)):
        assert not {m for m in imported if within(m, ("ember.tui",))}, f"{me} imports the front end"
        assert "textual" not in {n.split(".")[0] for n in _all_imports(path)}, f"{me} imports Textual"


def _all_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_every_package_is_installed_under_ember_and_nothing_generic() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {module_name(init) for init in sources("backend", "tui") if init.name == "__init__.py"}
    assert set(setuptools["packages"]) == on_disk
    assert all(name.startswith("ember.") for name in setuptools["packages"])
    assert setuptools["package-dir"] == {"ember.backend": "backend", "ember.tui": "tui"}


def test_backend_has_few_loose_modules() -> None:
    loose = [p.name for p in (ROOT / "backend").glob("*.py") if p.name != "__init__.py"]
    assert len(loose) <= 10, f"backend/ has {len(loose)} modules at its top: {sorted(loose)}"
