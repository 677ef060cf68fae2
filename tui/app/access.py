"""The EmberApp behind a screen, a widget or a palette provider, typed: the backend, session, history and
personas it holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

from textual.app import App

if TYPE_CHECKING:
    from ember.tui.app.app import EmberApp


class InApp(Protocol):
    @property
    def app(self) -> App[Any]: ...


def ember_app(node: InApp) -> EmberApp:
    return cast("EmberApp", node.app)
