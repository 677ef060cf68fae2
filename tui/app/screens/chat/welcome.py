"""What an empty chat says until the first message: how to start, the main keys (as remapped), and the
last conversation, offered to continue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ember.tui.app.keyhelp import ROWS, row_keys
from textual.widgets import Static

if TYPE_CHECKING:
    from ember.tui.app.app import EmberApp


def keys_of(first_id: str, keymap: dict[str, str]) -> str:
    return next(row_keys(row, keymap) for row in ROWS if row.ids[:1] == (first_id,))


def welcome_text(model: str, personas: int, keymap: dict[str, str], last_title: str = "") -> str:
    persona_keys = keys_of("persona_1", keymap).split(" … ")[0]
    lines = [
        f"Type a message and press Enter to chat with {model}.",
        f"{keys_of('help', keymap)} keys · {keys_of('library', keymap)} models · "
        f"{keys_of('parameters', keymap)} parameters · {keys_of('conversations', keymap)} conversations",
        (f"{persona_keys}…{min(personas, 9)} personas · " if personas else "")
        + f"Ctrl+P commands · {keys_of('quit', keymap)} quit",
    ]
    if last_title:
        lines.append(f'Continue your last conversation, "{last_title}": {keys_of("conversations", keymap)}, Enter')
    return "\n".join(lines)


class Welcome(Static):
    DEFAULT_CSS = """
    Welcome { color: $text-muted; padding: 1 2; }
    """


def welcome_for(app: EmberApp) -> Welcome:
    last = app.history.conversations(limit=1) if app.history is not None else []
    return Welcome(welcome_text(app.session.model, len(app.personas), app.keymap,
                                (last[0].title or "untitled")[:40] if last else ""), markup=False)
