"""The command palette lists exactly the bindings of the screen it was opened from and the app's, with
their keys, so the palette and the footer never disagree (a focused widget's own keys, the prompt's
cursor movements, are for typing, not for the palette); and, in the chat, every slash command."""

from __future__ import annotations

from functools import partial

from ember.tui.app.access import ember_app
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen
from textual.types import IgnoreReturnCallbackType


class BindingsProvider(Provider):
    def _commands(self) -> list[tuple[str, str, IgnoreReturnCallbackType]]:
        seen: set[str] = set()
        commands: list[tuple[str, str, IgnoreReturnCallbackType]] = []
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not active.enabled or not binding.description or binding.system or binding.action in seen:
                continue
            if active.node is not self.app and not isinstance(active.node, Screen):
                continue
            seen.add(binding.action)
            label = str(getattr(self.app, "binding_title", lambda b: b.description)(binding))
            key = self.app.get_key_display(binding)
            run = partial(self.app.run_action, binding.action, active.node)
            commands.append((label, key, run))
        return commands

    async def discover(self) -> Hits:
        for label, key, run in self._commands():
            yield DiscoveryHit(label, run, help=f"key: {key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, key, run in self._commands():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), run, text=label, help=f"key: {key}")


class AppCommandsProvider(Provider):
    """What the app does that has no key: serving the API from this process, and thinking, on or off."""

    def _commands(self) -> list[tuple[str, str, IgnoreReturnCallbackType]]:
        serving = getattr(self.app, "serving", None)
        if serving is None:
            return []
        if serving:
            commands = [("Stop serving the API", f"now on {serving}", ember_app(self).toggle_serving)]
        else:
            commands = [("Serve the API from this app", "Ollama's and OpenAI's, sharing the loaded models",
                         ember_app(self).toggle_serving)]
        return commands + self._think_commands()

    def _think_commands(self) -> list[tuple[str, str, IgnoreReturnCallbackType]]:
        app = ember_app(self)
        if app.session.state.think is False:
            return [("Thinking: on", "let a thinking model think before it answers (/set think)",
                     partial(app.set_think, True))]
        return [("Thinking: off", "a thinking model answers without thinking (/set nothink)",
                 partial(app.set_think, False))]

    async def discover(self) -> Hits:
        for label, help_text, run in self._commands():
            yield DiscoveryHit(label, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, run in self._commands():
            score = max(matcher.match(label), 0.5 if query.strip().lower() in help_text.lower() else 0)
            if score > 0:
                yield Hit(score, matcher.highlight(label), run, text=label, help=help_text)


class ChatCommandsProvider(Provider):
    """Each slash command: one that needs nothing more runs at once, another starts in the prompt."""

    def _commands(self) -> list[tuple[str, str, IgnoreReturnCallbackType]]:
        from ember.tui.app.screens.chat import ChatScreen
        from ember.tui.chat.slash import SPECS

        if not isinstance(self.screen, ChatScreen):
            return []
        return [(spec.syntax, spec.help, partial(self.screen.palette_command, spec)) for spec in SPECS]

    async def discover(self) -> Hits:
        for label, help_text, run in self._commands():
            yield DiscoveryHit(label, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, run in self._commands():
            # the help text counts only where it holds the query as typed: "theme" is not in /retry's
            # "answer the last message again", though its letters are, in order
            score = max(matcher.match(label), 0.5 if query.strip().lower() in help_text.lower() else 0)
            if score > 0:
                yield Hit(score, matcher.highlight(label), run, text=label, help=help_text)
