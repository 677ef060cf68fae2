"""Copying the conversation's code blocks: the last one, or one chosen from a list, through the terminal
(OSC 52) and the local clipboard, with a note of what was copied and where."""

from __future__ import annotations

from ember.tui.app.clipboard import copy_locally
from ember.tui.app.screens.pick import PickScreen
from ember.tui.chat.codeblocks import CodeBlock, code_blocks
from textual.app import App

NO_BLOCK = "No code block in this conversation yet"


def all_code_blocks(turns: list) -> list[CodeBlock]:
    return [block for turn in turns if turn.role == "assistant" for block in code_blocks(turn.content)]


def first_line(block: CodeBlock) -> str:
    return next((line.strip() for line in block.code.splitlines() if line.strip()), "")


def copy_text(app: App, text: str) -> str:
    """Copy through the terminal (OSC 52) and to the local clipboard; says where it went."""
    app.copy_to_clipboard(text)
    return "clipboard" if copy_locally(text) else "terminal clipboard (OSC 52)"


def copy_block(app: App, block: CodeBlock) -> None:
    where = copy_text(app, block.code)
    lines = block.code.rstrip("\n").count("\n") + 1
    app.notify(f"Copied {block.language or 'text'} block ({lines} line{'s' if lines > 1 else ''}) "
               f"to the {where}: {first_line(block)[:40]}")


def copy_last_block(app: App, turns: list) -> None:
    blocks = all_code_blocks(turns)
    if not blocks:
        app.notify(NO_BLOCK, severity="warning")
        return
    copy_block(app, blocks[-1])


def pick_block_to_copy(app: App, turns: list) -> None:
    blocks = all_code_blocks(turns)
    if not blocks:
        app.notify(NO_BLOCK, severity="warning")
        return
    items = [f"{b.language or 'text':>10}  {first_line(b)[:52]}" for b in blocks]

    def chosen(index: int | None) -> None:
        if index is not None:
            copy_block(app, blocks[index])

    app.push_screen(PickScreen("Copy which code block?", items, selected=len(items) - 1), chosen)
