"""Every generation parameter with its value and where it comes from; edit, reset, and save to the
persona (its Modelfile in the user's config directory, then its model)."""

from __future__ import annotations

from ember.backend.errors import EmberError
from ember.tui.app.access import ember_app
from ember.tui.app.personas import save_persona
from ember.tui.app.screens.confirm import ConfirmScreen
from ember.tui.chat.settings import parse_value, show_value
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label


class ParametersScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("x", "reset", "Drop the override"),
        Binding("ctrl+s", "save", "Save to persona", priority=True),
    ]

    DEFAULT_CSS = """
    ParametersScreen { layout: vertical; }
    ParametersScreen > .title { padding: 0 1; background: $panel; text-style: bold; width: 1fr; }
    ParametersScreen DataTable { height: 1fr; }
    ParametersScreen #help { padding: 0 1; color: $text-muted; height: 1; }
    ParametersScreen Input { border: tall $primary 40%; }
    ParametersScreen Input.-invalid { border: tall $error; }
    ParametersScreen #problem { padding: 0 1; color: $text-error; height: 1; }
    """

    def __init__(self) -> None:
        super().__init__(id="parameters")
        self.names: list[str] = []

    def compose(self) -> ComposeResult:
        yield Label("", classes="title", id="title")
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Label("", id="help")
        yield Input(placeholder="new value · Enter applies it to the next answer · Esc leaves it")
        yield Label("", id="problem")
        yield Footer(compact=True, show_command_palette=False)

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    @property
    def session(self):
        return ember_app(self).session

    def on_mount(self) -> None:
        self.table.add_columns("PARAMETER", "VALUE", "FROM")
        self.fill()
        self.table.focus()

    def fill(self) -> None:
        session = self.session
        persona = session.persona_title or "no persona"
        self.query_one("#title", Label).update(f"Parameters · {session.model} · {persona}")
        row = self.table.cursor_row
        self.table.clear()
        settings = session.settings()
        self.names = [s.name for s in settings]
        for setting in settings:
            self.table.add_row(setting.name, show_value(setting.value), setting.source, key=setting.name)
        if settings:
            self.table.move_cursor(row=max(0, min(row, len(settings) - 1)))
        self.show_help()

    def current(self) -> str:
        return self.names[max(0, min(self.table.cursor_row, len(self.names) - 1))]

    @on(DataTable.RowHighlighted)
    def show_help(self) -> None:
        if not self.names:
            return
        from ember.backend.parameters import PARAMETERS

        param = PARAMETERS[self.current()]
        bounds = ""
        if param.minimum is not None and param.maximum is not None:
            bounds = f" ({_number(param.minimum)} to {_number(param.maximum)})"
        self.query_one("#help", Label).update(f"{param.name}: {param.help}{bounds}")

    @on(DataTable.RowSelected)
    def edit(self) -> None:
        """Enter on a row: edit its value below."""
        if self.focused is self.table:
            field = self.query_one(Input)
            field.value = show_value(self.session.value(self.current()))
            field.focus()

    @on(Input.Changed)
    def validate_live(self, event: Input.Changed) -> None:
        problem = ""
        if event.value.strip():
            try:
                parse_value(self.current(), event.value)
            except EmberError as exc:
                problem = str(exc)
        event.input.set_class(bool(problem), "-invalid")
        self.query_one("#problem", Label).update(problem)

    @on(Input.Submitted)
    def apply(self, event: Input.Submitted) -> None:
        name = self.current()
        try:
            value = self.session.set_override(name, event.value)
        except EmberError as exc:
            self.query_one("#problem", Label).update(str(exc))
            return
        event.input.value = ""
        self.fill()
        self.table.focus()
        chat = ember_app(self).chat_screen()
        if chat is not None:
            chat.refresh_status()
        self.notify(f"{name} = {show_value(value)} from the next answer")

    def action_back(self) -> None:
        if self.focused is self.query_one(Input):
            self.query_one(Input).value = ""
            self.query_one("#problem", Label).update("")
            self.table.focus()
        else:
            self.app.pop_screen()

    def action_reset(self) -> None:
        """x: drop the chat's override; the persona's, the model's or the default value applies again."""
        if self.focused is not self.table:
            return
        name = self.current()
        if name not in self.session.overrides:
            self.notify(f"{name} has no override here: it is the {self.source(name)} value", severity="warning")
            return
        self.session.drop_override(name)
        self.fill()
        self.notify(f"{name} = {show_value(self.session.value(name))}, the {self.source(name)} value, "
                    "from the next answer")

    def source(self, name: str) -> str:
        return next(s.source for s in self.session.settings() if s.name == name)

    def action_save(self) -> None:
        """Ctrl+S: the persona's values with the panel's overrides go to the persona; values set with
        /set parameter only when the user says so."""
        persona = self.session.persona
        if persona is None:
            self.notify("Choose a persona first (Alt+1…9 or Alt+P): parameters are saved to a persona",
                        severity="warning")
            return
        chat_level = self.session.chat_level_options()
        panel = {k: v for k, v in self.session.overrides.items() if k not in chat_level}
        base = {**dict(persona.parameters), **panel}
        if not chat_level:
            self.save(persona, base, {})
            return
        listed = ", ".join(f"{k} {show_value(v)}" for k, v in chat_level.items())

        def answered(include: bool | None) -> None:
            if include:
                self.save(persona, {**base, **chat_level}, {})
            else:
                self.save(persona, base, chat_level)

        self.app.push_screen(ConfirmScreen(f"This chat also set {listed} (/set parameter). Save those to "
                                           f"{persona.title} too? n: only the panel's values"), answered)

    @work(exclusive=True, group="save", exit_on_error=False)
    async def save(self, persona, parameters: dict[str, object], keep: dict[str, object]) -> None:
        """Save `parameters` to the persona; `keep` stays this chat's own."""
        try:
            updated = await save_persona(ember_app(self).backend, persona, parameters, ember_app(self).persona_dir)
        except EmberError as exc:
            self.notify(str(exc), title=f"Could not save {persona.title}", severity="error", timeout=10)
            return
        ember_app(self).personas = [updated if p.slug == persona.slug else p for p in ember_app(self).personas]
        self.session.set_persona(updated)
        self.session.overrides.update(keep)
        self.fill()
        self.notify(f"Saved {persona.title} to {updated.source} and the model {persona.model}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
