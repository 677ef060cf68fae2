"""Key bindings: every action's id, default key and label, and the user's remapping from config.toml.

The defaults survive tmux and SSH with TERM=screen-256color: Ctrl+letter (not the ones terminals
reserve: Ctrl+H, I, M, S, Q, Z are backspace, tab, enter and flow/job control), Alt+digit, F1, Esc.
Remap in config.toml, e.g.

    [keys]
    regenerate = "ctrl+g"
    persona_1 = "alt+a"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import cast

PERSONA_SLOTS = 9


@dataclass(frozen=True)
class Key:
    id: str
    key: str
    action: str
    label: str
    show: bool = True  # in the footer


APP_KEYS: tuple[Key, ...] = (
    Key("quit", "ctrl+q", "quit", "Quit", show=False),
    Key("help", "f1", "toggle_help", "Keys", show=False),
    Key("library", "ctrl+l", "open_library", "Models"),
    Key("parameters", "ctrl+o", "open_parameters", "Params"),
    Key("conversations", "ctrl+f", "open_conversations", "Chats"),
    Key("personas", "alt+p", "pick_persona", "Persona"),
    Key("persona_none", "alt+0", "persona(0)", "No persona", show=False),
    *(Key(f"persona_{n}", f"alt+{n}", f"persona({n})", f"Persona {n}", show=False)
      for n in range(1, PERSONA_SLOTS + 1)),
)

CHAT_KEYS: tuple[Key, ...] = (
    Key("stop", "escape", "stop", "Stop"),
    Key("interrupt", "ctrl+c", "interrupt", "Stop, or copy the selection", show=False),
    Key("regenerate", "ctrl+r", "regenerate", "Regen"),
    Key("edit_last", "ctrl+e", "edit_last", "Edit last", show=False),
    Key("copy_code", "ctrl+y", "copy_code", "Copy"),
    Key("pick_code", "alt+y", "pick_code", "Copy a block…", show=False),
    Key("new_chat", "ctrl+n", "new_chat", "New chat", show=False),
    Key("thinking", "ctrl+t", "toggle_thinking", "Show or fold the thinking", show=False),
)

ALL_IDS = {k.id for k in APP_KEYS + CHAT_KEYS}


def bindings(keys: tuple[Key, ...]) -> list:
    from textual.binding import Binding

    return [Binding(k.key, k.action, k.label, show=k.show, id=k.id, priority=True) for k in keys]


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """The [keys] table of config.toml as {binding id: keys}, and a line for each entry ignored."""
    if path is None:
        from ember.backend.config import config_dir

        path = config_dir() / "config.toml"
    if not path.is_file():
        return {}, []
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("keys", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"{path}: not valid TOML ({exc}) — key remapping ignored"]
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for name, value in table.items() if isinstance(table, dict) else ():
        if name not in ALL_IDS:
            problems.append(f'{path}: [keys] {name} is not an action — one of {", ".join(sorted(ALL_IDS))}')
        elif not isinstance(value, str) or not value.strip():
            problems.append(f'{path}: [keys] {name} needs a key like "ctrl+g"')
        else:
            keymap[name] = value.strip()
    return keymap, problems


def alt_digits_as_keys() -> None:
    """Let Alt+digit arrive as alt+1 … alt+9.

    Terminals, tmux and SSH send Alt+2 as ESC 2; Textual maps that sequence to "™" (what WezTerm
    on macOS sends for Option+2), so Alt+digit bindings would never fire. Removing those entries
    from Textual's sequence table makes its parser read ESC + digit as alt+digit.
    """
    from textual import _ansi_sequences

    for digit in "0123456789":
        cast(dict[str, object], _ansi_sequences.ANSI_SEQUENCES_KEYS).pop(f"\x1b{digit}", None)


def key_label(key: str) -> str:
    """How a key is written in the README and the footer: Ctrl+R, Alt+1, Esc."""
    names = {"escape": "Esc", "ctrl": "Ctrl", "alt": "Alt", "enter": "Enter"}
    return "+".join(names.get(part, part.upper() if len(part) == 1 else part.capitalize())
                    for part in key.split("+"))
