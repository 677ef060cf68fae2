"""The app's keys as one table: shown by F1, by `/? shortcuts` in the app, and in the README (a test
holds the README to it). Keys follow the user's remapping in config.toml."""

from __future__ import annotations

from dataclasses import dataclass

from ember.tui.app.keys import APP_KEYS, CHAT_KEYS, PERSONA_SLOTS, key_label

DEFAULTS = {k.id: k.key for k in APP_KEYS + CHAT_KEYS}


@dataclass(frozen=True)
class KeyRow:
    ids: tuple[str, ...]  # the bindings it describes; none for the prompt's own keys
    keys: str  # how the keys are written when no binding says otherwise
    what: str


ROWS: tuple[KeyRow, ...] = (
    KeyRow((), "Enter / Ctrl+J", 'send the message / a new line in it (`"""` … `"""` also makes one message '
                                 "of several lines)"),
    KeyRow((), "`/`", "a [chat command](#chat-commands), run in the chat and never sent to the model; the line "
                      "under the prompt shows its syntax"),
    KeyRow((), "Tab", "complete a command, a parameter name, a model or a persona"),
    KeyRow((), "Up / Down", "in an empty prompt: your earlier messages, as in a shell"),
    KeyRow((), "PageUp / PageDown", "scroll the conversation from the prompt; typing anywhere goes to the prompt; "
           "a long conversation shows its newest 8 messages, and reaching the top (PageUp, the wheel, or a click "
           'on the "↑ N earlier messages" line) shows 8 more above'),
    KeyRow(("stop", "interrupt"), "", "stop the answer (generation stops at once; what was said is kept); with "
                                      "nothing to stop, Ctrl+C copies the prompt's selection or says how to quit"),
    KeyRow(("regenerate",), "", "regenerate the last answer"),
    KeyRow(("edit_last",), "", "take the last message back into the prompt to edit and resend it"),
    KeyRow(("copy_code", "pick_code"), "", "copy the last code block / choose a code block to copy"),
    KeyRow(("new_chat",), "", "a new conversation"),
    KeyRow(("thinking",), "", "open or fold the thinking of a thinking model's answers (dimmed, above each "
                              "answer); `/set think` / `/set nothink` switch thinking on or off"),
    KeyRow(tuple(f"persona_{n}" for n in range(1, PERSONA_SLOTS + 1)) + ("persona_none",), "",
           "switch to persona 1…9 (the order of `modelfiles/`), or to none; the conversation stays"),
    KeyRow(("personas",), "", "the persona picker"),
    KeyRow(("library",), "", "model library: details (Enter chats with it), `m` Modelfile, `c` copy, `d` delete "
                             "(asks first), `n` create from a Modelfile, `p` pull with a progress bar"),
    KeyRow(("parameters",), "", "parameters: every parameter with its value and where it comes from (default, "
                                "config — `EMBER_CONTEXT_LENGTH` —, model, persona, override); Enter edits (checked as you type), `x` drops an "
                                "override (and says which value applies then), Ctrl+S saves what the panel shows "
                                "to the persona (your copy of its Modelfile, then its model), asking first about "
                                "values set with `/set parameter`"),
    KeyRow(("conversations",), "", "conversations: type to search every message, Enter continues one, Ctrl+R "
                                   "renames, Ctrl+D deletes, Ctrl+X exports Markdown"),
    KeyRow((), "Ctrl+P", "command palette: ember's actions by name, every chat command, and the themes"),
    KeyRow(("help",), "", "these keys (in a panel, that panel's own keys first)"),
    KeyRow(("quit",), "", "quit"),
)


def row_keys(row: KeyRow, keymap: dict[str, str] | None = None) -> str:
    """The keys of a row as the README writes them (Ctrl+R, Alt+1 … Alt+9, Alt+0), remapped or not."""
    if not row.ids:
        return row.keys
    keymap = keymap or {}
    labels = [key_label(keymap.get(i, DEFAULTS[i]).split(",")[0]) for i in row.ids]
    if len(labels) > 3:  # the persona slots
        return f"{labels[0]} … {labels[-2]}, {labels[-1]}"
    return " / ".join(labels) if row.ids[0] == "copy_code" else ", ".join(labels)


def key_table(keymap: dict[str, str] | None = None) -> str:
    """The table in Markdown, as in the README."""
    lines = ["| key | what it does |", "|---|---|"]
    lines += [f"| {row_keys(row, keymap)} | {row.what} |" for row in ROWS]
    return "\n".join(lines)


def shortcuts_text(keymap: dict[str, str] | None = None) -> str:
    """The table as plain lines, for `/? shortcuts` in the app."""
    width = max(len(row_keys(row, keymap)) for row in ROWS) + 2
    lines = ["Available keyboard shortcuts:"]
    for row in ROWS:
        what = row.what.replace("`", "").replace("[chat command](#chat-commands)", "chat command")
        lines.append(f"  {row_keys(row, keymap).replace('`', ''):<{width}}{what}")
    return "\n".join(lines)
