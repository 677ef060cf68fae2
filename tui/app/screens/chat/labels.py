"""The label above each message: You, or the model (and persona) that gave the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ember.tui.chat.session import Author

if TYPE_CHECKING:
    from ember.tui.app.app import EmberApp


def message_label(app: EmberApp, role: str, author: Author | None = None) -> str:
    """An answer's own author when it has one (a reopened conversation), else the chat's model and persona."""
    session = app.session
    if role == "user":
        return "You"
    if author is not None:
        persona = next((p.title for p in session.personas if p.slug == author.persona), author.persona)
        return f"{author.model} · {persona}" if persona else author.model
    model = f"{session.model} @ {app.endpoint}" if app.endpoint else session.model
    return f"{model} · {session.persona_title}" if session.persona is not None else model
