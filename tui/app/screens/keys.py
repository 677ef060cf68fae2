"""F1: the keys — a panel's own first (in the library, the parameters, the conversations), then the app's
table (the same as the README's), then what edits the prompt."""

from __future__ import annotations

from ember.tui.app.keyhelp import key_table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Markdown


def panel_keys(screen: Screen) -> list[tuple[str, str]]:
    """The bindings a screen declares itself, as (key, what)."""
    rows = []
    for binding in screen.BINDINGS:
        if isinstance(binding, Binding) and binding.description:
            keys = ", ".join(screen.app.get_key_display(Binding(k, "")) for k in binding.key.split(","))
            rows.append((keys, binding.description))
    return rows


def prompt_keys(screen: Screen, taken: set[str]) -> list[tuple[str, str]]:
    """The prompt's editing keys (Textual's TextArea) that no ember key shadows."""
    from ember.tui.app.widgets.prompt_input import PromptInput

    rows = []
    for binding in PromptInput.BINDINGS:
        if not isinstance(binding, Binding) or not binding.description:
            continue
        keys = [k for k in binding.key.split(",") if k not in taken and not k.startswith("super+")]
        if keys:
            rows.append((", ".join(screen.app.get_key_display(Binding(k, "")) for k in keys), binding.description))
    return rows


def table(rows: list[tuple[str, str]]) -> str:
    return "\n".join(["| key | what it does |", "|---|---|", *(f"| {k} | {w} |" for k, w in rows)])


class KeysScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    DEFAULT_CSS = """
    KeysScreen { align: center middle; }
    KeysScreen > VerticalScroll { width: 100%; max-width: 110; height: 100%; background: $surface;
                                  border: round $primary; padding: 0 1; }
    """

    def __init__(self, below: Screen, keymap: dict[str, str]) -> None:
        super().__init__(id="keys")
        self.below = below
        self.keymap = keymap

    def document(self) -> str:
        parts = []
        own = panel_keys(self.below) if self.below.id != "chat" else []
        if own:
            parts += [f"## This panel ({self.below.id})", table(own)]
        parts += ["## Keys (Esc closes)", key_table(self.keymap).replace("[chat command](#chat-commands)", "chat command")]
        taken = {b.key for _, b in self.app._bindings} | {b.key for _, b in self.below._bindings}
        parts += ["## Editing the prompt", table(prompt_keys(self, taken))]
        return "\n\n".join(parts)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(self.document())
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
