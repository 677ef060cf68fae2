"""Theme files: the shipped ones in the repository's themes/, then the user's in the config dir's themes/.

A theme file is TOML with the fields of `textual.theme.Theme` (and a [variables] table).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from textual.theme import Theme

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "themes"
_FIELDS = {f.name for f in fields(Theme)}


@dataclass(frozen=True)
class ThemeLoad:
    themes: list[Theme]
    problems: list[str]  # one line per file that could not be used


def user_themes_dir() -> Path:
    from ember.backend.config import config_dir

    return config_dir() / "themes"


def read_theme(path: Path) -> Theme:
    """One theme file; raises ValueError with the reason when it is not a usable theme."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"not valid TOML ({exc})") from None
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown keys {', '.join(unknown)} (allowed: {', '.join(sorted(_FIELDS))})")
    data.setdefault("name", path.stem)
    if "primary" not in data:
        raise ValueError('a theme needs at least "primary"')
    theme = Theme(**data)
    try:
        theme.to_color_system().generate()
    except Exception as exc:  # Textual reports a bad colour as a parse error of its own
        raise ValueError(f"bad colour ({exc})") from None
    return theme


def load_themes(*directories: Path) -> ThemeLoad:
    """Every *.toml theme in `directories` (default: shipped, then the user's); later files win."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for directory in directories or (SHIPPED_DIR, user_themes_dir()):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = read_theme(path)
            except ValueError as exc:
                problems.append(f"theme {path}: {exc} — fix the file or remove it")
                continue
            themes[theme.name] = theme
    return ThemeLoad(list(themes.values()), problems)
