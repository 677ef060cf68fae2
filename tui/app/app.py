"""EmberApp: the Textual application. It holds the backend, the chat session (tui.chatsession, the
same conversation model as the plain REPL) and the history, and switches personas; the screens do
the rest."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from ember.backend.config import Config, save_settings
from ember.backend.errors import EmberError, ModelNotFound
from ember.backend.history import History
from ember.backend.service import Backend
from ember.tui.app.apiserver import ApiServer
from ember.tui.app.endpoints import HOME, Endpoints
from ember.tui.app.keys import APP_KEYS, PERSONA_SLOTS, alt_digits_as_keys, bindings, load_keymap
from ember.tui.app.personas import available_personas, user_persona_dir
from ember.tui.app.screens.chat import ChatScreen
from ember.tui.app.screens.pick import PickScreen
from ember.tui.app.themes import load_themes
from ember.tui.chat.session import ChatSession, ChatState
from textual import work
from textual.app import App
from textual.binding import Binding, BindingsMap

if TYPE_CHECKING:
    from textual.command import Provider


def _bindings_provider() -> type[Provider]:
    from ember.tui.app.palette import BindingsProvider

    return BindingsProvider


def _app_commands_provider() -> type[Provider]:
    from ember.tui.app.palette import AppCommandsProvider

    return AppCommandsProvider


def _chat_commands_provider() -> type[Provider]:
    from ember.tui.app.palette import ChatCommandsProvider

    return ChatCommandsProvider


class EmberApp(App):
    TITLE = "ember"
    BINDINGS = bindings(APP_KEYS)
    COMMANDS = App.COMMANDS | {_bindings_provider, _app_commands_provider, _chat_commands_provider}  # imported when the palette opens
    CLOSE_TIMEOUT = 0.5
    CSS = """
    ToastRack { dock: top; align: right top; margin-bottom: 0; }  /* the prompt and the status line stay in sight */
    """

    def __init__(self, backend: Backend, model: str, *, config: Config | None = None,
                 history: History | None = None, personas: list | None = None,
                 theme_dirs: tuple = (), keymap: dict[str, str] | None = None,
                 load_model: bool = True, persona_dir: Path | None = None,
                 remotes: dict | None = None, missing_model: str = "", serve: str | None = None,
                 served_by: str = "") -> None:
        alt_digits_as_keys()
        super().__init__()
        from ember.backend.config import load_config

        self.config = config or load_config()
        self.backend = backend
        self.history = history or History()
        self.problems: list[str] = []
        if personas is None:
            personas, problems = available_personas()
            self.problems += problems
        self.session = ChatSession(backend, ChatState(model=model), self.history, personas=list(personas))
        self.session.on_save_error = lambda exc: self.notify(str(exc), title="Not saved", severity="error",
                                                             timeout=10)
        self.persona_dir = persona_dir or user_persona_dir()  # where a persona's saved parameters go
        self.endpoints = Endpoints.from_config(backend, self.remote_note, remotes)  # None: config.toml's
        self.endpoint = HOME  # which of them the chat runs on
        self.problems += self.endpoints.problems
        if hasattr(backend, "notify"):  # a remote (--host) reports what its server ignores here, not on stderr
            backend.notify = self.remote_note
        self.theme_dirs = theme_dirs
        self.load_model = load_model
        self.missing_model = missing_model  # why the chosen model cannot be used: start on the library
        self.serve_at = serve  # serve the API from this process at start (""= the configured address)
        self.served_by = served_by  # the `ember serve` running here that the backend talks to, if it does
        self.api_server: ApiServer | None = None
        self._theme_chosen = False  # the choice persists only once the user makes one
        self._bindings = self._with_persona_titles()
        user_keys, problems = load_keymap() if keymap is None else (keymap, [])
        self.problems += problems
        self.keymap = user_keys  # {binding id: keys}, for the keys F1 lists
        if user_keys:
            self.set_keymap(user_keys)

    @property
    def personas(self) -> list:
        return self.session.personas

    @personas.setter
    def personas(self, personas: list) -> None:
        self.session.personas = personas

    def _with_persona_titles(self) -> BindingsMap:
        """Persona hotkeys show the persona's title in the footer, and only where a persona exists."""
        result = []
        for _key, binding in self._bindings:
            if binding.id and binding.id.startswith("persona_") and binding.id[8:].isdigit():
                slot = int(binding.id[8:])
                if 1 <= slot <= len(self.personas):
                    binding = dataclasses.replace(binding, description=self.personas[slot - 1].title)
            elif binding.id == "personas" and self.personas:
                last = min(len(self.personas), PERSONA_SLOTS)
                binding = dataclasses.replace(binding, key_display=f"alt+1…{last}")
            result.append(binding)
        return BindingsMap(result)

    def binding_title(self, binding: Binding) -> str:
        """What the command palette calls a binding."""
        if binding.id and binding.id.startswith("persona_"):
            return f"Persona: {binding.description}"
        return binding.description

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "persona" and parameters and isinstance(parameters[0], int):
            return 0 <= parameters[0] <= len(self.personas) or None
        return True

    # start-up ------------------------------------------------------------------------------

    def on_mount(self) -> None:
        loaded = load_themes(*self.theme_dirs)
        for theme in loaded.themes:
            self.register_theme(theme)
        self.problems += loaded.problems
        wanted = self.config.theme
        if wanted not in self.available_themes:
            self.problems.append(f'config.toml: theme "{wanted}" is not a theme — using ember-dark '
                                 '(Ctrl+P, "theme" lists them)')
        self.theme = wanted if wanted in self.available_themes else "ember-dark"
        self._theme_chosen = True
        self.push_screen(ChatScreen())
        for problem in self.problems:
            self.notify(problem, severity="warning", timeout=10)
        if self.served_by:
            self.notify(f"Using the models of the {self.served_by} already running here (loaded once for both; "
                        "--in-process loads them in this app)", timeout=8)
        if self.serve_at is not None:
            self.toggle_serving()
        if self.missing_model:
            self.notify(f"{self.missing_model} — choose a model here (Enter chats with it), or pull one (p)",
                        title="No model to chat with", severity="warning", timeout=15)
            self.action_open_library()
        else:
            self.prepare_model()

    def chat_screen(self) -> ChatScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                return screen
        return None

    @work(exclusive=True, group="model", exit_on_error=False)
    async def prepare_model(self) -> None:
        """Read the model's parameters, then load it, without holding up the first screen."""
        chat = self.chat_screen()
        model = self.session.model
        try:
            info = await self.backend.show(model)
            self.session.state.model_parameters = dict(info.parameters)
            if chat:
                chat.refresh_status()
            if self.load_model:
                if chat:
                    chat.refresh_status(state="loading")
                await self.backend.load(model, self.session.keep_alive)
                if chat and not chat.answering:
                    chat.refresh_status(state="ready")
        except ModelNotFound:
            self.notify(f'model "{model}" not found — pick one in the model library (Ctrl+L)',
                        severity="error", timeout=10)
        except EmberError as exc:
            self.notify(str(exc), title=f"Could not load {model}", severity="error", timeout=10)

    def use_model(self, name: str, endpoint: str | None = None) -> None:
        """Chat with `name`; on another endpoint (HOME or a remote's name) the conversation moves there."""
        if endpoint is None or endpoint == self.endpoint:
            self.session.model = name
            self.model_changed()
        else:
            self.switch_endpoint(endpoint, name)

    @work(exclusive=True, group="endpoint", exit_on_error=False)
    async def switch_endpoint(self, endpoint: str, name: str) -> None:
        """Move the chat (its turns, persona and settings) to another endpoint's backend."""
        try:
            backend = await self.endpoints.backend(endpoint)
        except EmberError as exc:
            self.notify(str(exc), title=f"Could not open {endpoint or 'this machine'}", severity="error", timeout=10)
            return
        chat = self.chat_screen()
        if chat and chat.answering:
            chat.workers.cancel_group(chat, "answer")
        self.backend = self.session.backend = backend
        self.endpoint = endpoint
        self.session.model = name
        self.model_changed()

    def remote_note(self, message: str) -> None:
        """A remote's one-time note (a parameter its server ignores)."""
        self.notify(message, title="Note", timeout=8)

    def model_changed(self) -> None:
        """The session's model changed (the library, /load): the status line follows, and it loads."""
        name = self.session.model
        chat = self.chat_screen()
        if chat:
            chat.refresh_status(state="", tokens_per_second=0.0)
        where = f" on {self.endpoint}" if self.endpoint else ""
        persona = self.session.persona_title
        rule = (f" — {persona}'s system prompt and parameters still apply over the model's (Alt+0: no persona)"
                if persona else "")
        self.notify(f"Chatting with {name}{where}{rule}", timeout=8 if persona else 5)
        self.prepare_model()

    # serving the API from this process ----------------------------------------------------

    @work(exclusive=True, group="serve", exit_on_error=False)
    async def toggle_serving(self) -> None:
        """Serve the Ollama and OpenAI API from the app (sharing its loaded models), or stop."""
        chat = self.chat_screen()
        if self.api_server is not None and self.api_server.running:
            await self.api_server.stop()
            self.notify("Stopped serving the API")
        else:
            self.api_server = ApiServer(self.endpoints.home, self.config, self.serve_at or "")
            try:
                url = await self.api_server.start()
            except EmberError as exc:
                self.notify(str(exc), title="Could not serve the API", severity="error", timeout=10)
                return
            self.notify(f"Serving the Ollama and OpenAI API on {url} (its models are this app's)")
        if chat:
            chat.refresh_status()

    @property
    def serving(self) -> str:
        return self.api_server.url if self.api_server is not None and self.api_server.running else ""

    def set_think(self, think: bool) -> None:
        """Thinking on or off from the next answer, as /set think and /set nothink do."""
        self.session.state.think = think
        self.notify("Thinking on: a thinking model thinks before it answers" if think
                    else "Thinking off: a thinking model answers without thinking")

    # themes --------------------------------------------------------------------------------

    def watch_theme(self, theme: str) -> None:
        if not getattr(self, "_theme_chosen", False) or theme == self.config.theme:
            return
        self.config = dataclasses.replace(self.config, theme=theme)
        try:
            save_settings({"theme": theme})
        except (OSError, EmberError) as exc:
            self.notify(f"could not save the theme choice: {exc}", severity="warning")

    # personas ------------------------------------------------------------------------------

    async def action_persona(self, slot: int) -> None:
        """Slot 1..9: that persona; 0: none. The conversation stays; the persona's system prompt,
        example turns and parameters apply from the next answer."""
        if slot == 0:
            self.switch_persona(None)
        elif 1 <= slot <= len(self.personas):
            self.switch_persona(self.personas[slot - 1])
        else:
            self.notify(f"No persona on Alt+{slot} — Alt+P lists them", severity="warning")

    def switch_persona(self, persona) -> None:
        self.session.set_persona(persona)
        self.persona_changed()

    def persona_changed(self) -> None:
        chat = self.chat_screen()
        if chat:
            chat.refresh_status()
        self.notify(f"Persona: {self.session.persona_title or 'no persona'}")

    def action_pick_persona(self) -> None:
        items = ["(no persona)"] + [f"Alt+{i}  {p.title}" if i <= PERSONA_SLOTS else f"      {p.title}"
                                    for i, p in enumerate(self.personas, start=1)]
        current = 0
        if self.session.persona is not None:
            current = next((i for i, p in enumerate(self.personas, 1) if p.slug == self.session.persona.slug), 0)

        def chosen(index: int | None) -> None:
            if index is not None:
                self.switch_persona(self.personas[index - 1] if index else None)

        self.push_screen(PickScreen("Persona (the conversation stays)", items, selected=current), chosen)

    # panels --------------------------------------------------------------------------------

    def action_open_library(self) -> None:
        from ember.tui.app.screens.library import LibraryScreen

        if not isinstance(self.screen, LibraryScreen):
            self.push_screen(LibraryScreen())

    def action_open_parameters(self) -> None:
        from ember.tui.app.screens.parameters import ParametersScreen

        if not isinstance(self.screen, ParametersScreen):
            self.push_screen(ParametersScreen())

    def action_open_conversations(self) -> None:
        from ember.tui.app.screens.conversations import ConversationsScreen

        if not isinstance(self.screen, ConversationsScreen):
            self.push_screen(ConversationsScreen())

    def action_toggle_help(self) -> None:
        from ember.tui.app.screens.keys import KeysScreen

        if isinstance(self.screen, KeysScreen):
            self.screen.dismiss()
        else:
            self.push_screen(KeysScreen(self.screen, self.keymap))

    async def open_conversation(self, conversation_id: int) -> None:
        chat = self.chat_screen()
        if chat and chat.answering:
            chat.workers.cancel_group(chat, "answer")
        self.session.open_conversation(conversation_id)
        if chat:
            await chat.show_turns()

    def on_worker_state_changed(self, event) -> None:
        """A worker that fails shows why, instead of leaving a dead screen."""
        from textual.worker import WorkerState

        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            message = str(error) if isinstance(error, EmberError) else f"{type(error).__name__}: {error}"
            self.notify(message, title="Something failed", severity="error", timeout=10)

    # quitting ------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        chat = self.chat_screen()
        if chat is not None:
            chat.save_draft_now(chat.prompt.text)
        if self.api_server is not None:
            await self.api_server.stop()
        self.exit()
