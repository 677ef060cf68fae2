"""Slash commands in the chat: the hint line of the command being typed, Tab completion, and running a
command through the session, then making the screen follow what it changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ember.backend.parameters import PARAMETERS
from ember.tui.app.keyhelp import shortcuts_text
from ember.tui.app.screens.chat.codecopy import copy_text
from ember.tui.app.screens.pick import PickScreen
from ember.tui.app.widgets.command_note import CommandNote
from ember.tui.chat.slash import complete, is_command, parse_command, syntax_hint
from ember.tui.chat.slash_run import run_command

if TYPE_CHECKING:
    from ember.tui.app.screens.chat.screen import ChatScreen


def command_hint(text: str) -> str:
    """The hint line for what is in the prompt: the syntax of the command being typed."""
    if not is_command(text) or "\n" in text.strip():
        return ""
    hint = syntax_hint(text) or "Unknown command — /? lists them"
    words = text.split()
    if words[:2] == ["/set", "parameter"] and len(words) >= 3 and words[2] in PARAMETERS:
        hint += f"   ·   {words[2]}: {PARAMETERS[words[2]].help}"
    return hint


@dataclass
class TabCompletion:
    """What Tab made of the prompt, so the hint keeps listing the choices until the text changes."""

    completed: str = ""
    hint: str = ""

    def complete(self, text: str, models: list[str], personas: list[str]) -> tuple[str, str]:
        completed, choices = complete(text.lstrip(), models, personas)
        hint = command_hint(completed)
        if choices:
            shown = completed[: completed.rfind(" ") + 1]
            names = "  ".join(c[len(shown):] for c in choices[:12])
            hint = f"{hint}   ·   {names}{' …' if len(choices) > 12 else ''}"
        elif completed == text.lstrip():
            hint = f"{hint} · nothing to complete"
        self.completed, self.hint = completed, hint
        return completed, hint

    def hint_for(self, text: str) -> str:
        return self.hint if text == self.completed and self.hint else command_hint(text)


async def run_in_chat(chat: ChatScreen, line: str) -> None:
    """Run a slash command through the session: its output is a note in the chat, and the status
    line, the views and the clipboard follow what it changed."""
    app, session = chat.ember, chat.ember.session
    model, persona = session.model, session.persona_slug
    outcome = await run_command(session, line)
    if outcome.quit:
        await app.action_quit()
        return
    text = outcome.text
    command = None if outcome.error else parse_command(line)
    if command is not None and command.name == "/?" and command.args[:1] == ("shortcuts",):
        text = shortcuts_text(app.keymap)  # the app's keys, not the plain chat's line-editing ones
    if outcome.copy:
        text = f"{text} to the {copy_text(app, outcome.copy)}"
    name = command.name if command is not None else ""
    if name == "/clear":
        await chat.clear_conversation()
        chat.context_cleared()
    if name == "/save":
        chat.fetch_model_names()  # Tab after /load offers the model just made
    await chat.sync_views()
    chat.end_welcome()
    await chat.conversation.mount(CommandNote(line, text, error=outcome.error))
    chat.conversation.scroll_end(animate=False)
    if session.model != model:
        app.model_changed()
    if session.persona_slug != persona:
        app.persona_changed()
    chat.refresh_status()
    if outcome.answer is not None:
        chat.start_answer(outcome.answer)
    if name == "/search" and command is not None:
        offer_search_hits(chat, command.rest.strip())


def offer_search_hits(chat: ChatScreen, text: str) -> None:
    """After /search in the app: pick a hit to continue its conversation (Esc keeps the list as a note)."""
    app = chat.ember
    hits = app.history.search(text)[:20] if app.history is not None else []
    if not hits:
        return
    items = [f"#{h.conversation.id}  {h.conversation.title[:30]:<30}  {h.snippet[:30]}" for h in hits]

    async def chosen(index: int | None) -> None:
        if index is not None:
            await app.open_conversation(hits[index].conversation.id)

    app.push_screen(PickScreen(f'Continue which conversation with "{text}"?', items), chosen)
