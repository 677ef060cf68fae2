"""The model library: the local models, their details and Modelfile; use, copy, delete, create, pull."""

from __future__ import annotations

import time
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, ProgressBar, Static

from backend.errors import EmberError
from backend.types import ModelInfo, ModelSummary
from tui.app.screens.ask import AskScreen
from tui.app.screens.confirm import ConfirmScreen
from tui.format import human_size

COLUMNS = ("NAME", "SIZE", "QUANT", "FAMILY", "PARAMS", "CTX", "MODIFIED")


def context_length(info: ModelInfo) -> str:
    arch = str(info.model_info.get("general.architecture", info.details.family))
    value = info.model_info.get(f"{arch}.context_length", "")
    return str(value)


def describe(info: ModelInfo) -> str:
    arch = str(info.model_info.get("general.architecture", info.details.family))
    rows = [
        ("architecture", arch),
        ("parameters", info.details.parameter_size),
        ("quantisation", info.details.quantization_level),
        ("context length", context_length(info)),
        ("embedding length", str(info.model_info.get(f"{arch}.embedding_length", ""))),
        ("capabilities", ", ".join(info.capabilities)),
        ("modified", time.strftime("%Y-%m-%d %H:%M", time.localtime(info.modified_at))),
    ]
    lines = [f"{key:<18}{value}" for key, value in rows if value]
    if info.parameters:
        lines += ["", "parameters"] + [f"  {k:<16}{v}" for k, v in info.parameters.items()]
    if info.system:
        lines += ["", "system", "  " + info.system.strip().replace("\n", "\n  ")]
    return "\n".join(lines)


class LibraryScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "use", "Chat with it", priority=True),
        Binding("m", "toggle_modelfile", "Modelfile"),
        Binding("c", "copy", "Copy"),
        Binding("d,delete", "delete", "Delete"),
        Binding("n", "create", "Create"),
        Binding("p", "pull", "Pull"),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    DEFAULT_CSS = """
    LibraryScreen { layout: vertical; }
    LibraryScreen > .title { padding: 0 1; background: $panel; text-style: bold; width: 1fr; }
    LibraryScreen DataTable { height: 1fr; min-height: 5; }
    LibraryScreen #details-box { height: 1fr; border-top: solid $primary 50%; padding: 0 1; }
    LibraryScreen #pull { height: auto; padding: 0 1; display: none; }
    LibraryScreen #pull.active { display: block; }
    """

    def __init__(self) -> None:
        super().__init__(id="library")
        self.models: list[ModelSummary] = []
        self.infos: dict[str, ModelInfo] = {}
        self.show_modelfile = False

    def compose(self) -> ComposeResult:
        yield Label("Models on this backend", classes="title")
        yield DataTable(cursor_type="row", zebra_stripes=True)
        with Vertical(id="pull"):
            yield Label("", id="pull-status")
            yield ProgressBar(total=100, show_eta=False, id="pull-bar")
        with VerticalScroll(id="details-box"):
            yield Static("", id="details", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.table.add_column(column, key=column)
        self.table.focus()
        self.reload()

    def selected(self) -> str | None:
        if not self.models or self.table.cursor_row < 0:
            return None
        return self.models[min(self.table.cursor_row, len(self.models) - 1)].name

    @work(exclusive=True, group="list", exit_on_error=False)
    async def reload(self, select: str | None = None) -> None:
        try:
            self.models = sorted(await self.app.backend.list_models(), key=lambda m: m.name)
        except EmberError as exc:
            self.notify(str(exc), severity="error")
            return
        table = self.table
        table.clear()
        for model in self.models:
            table.add_row(model.name, human_size(model.size), model.details.quantization_level,
                          model.details.family, model.details.parameter_size, "…",
                          time.strftime("%Y-%m-%d", time.localtime(model.modified_at)), key=model.name)
        current = select or self.app.session.model
        names = [m.name for m in self.models]
        if current in names:
            table.move_cursor(row=names.index(current))
        if not self.models:
            self.query_one("#details", Static).update("No models yet — p pulls one, n creates one from a Modelfile.")
        for model in self.models:
            try:
                info = await self.app.backend.show(model.name)
            except EmberError:
                continue
            self.infos[model.name] = info
            table.update_cell(model.name, "CTX", context_length(info))
        self.show_details()

    @on(DataTable.RowHighlighted)
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_details()

    def show_details(self) -> None:
        name = self.selected()
        info = self.infos.get(name or "")
        if info is None:
            return
        text = info.modelfile if self.show_modelfile else describe(info)
        self.query_one("#details", Static).update(text)

    def action_toggle_modelfile(self) -> None:
        self.show_modelfile = not self.show_modelfile
        self.show_details()

    def action_refresh(self) -> None:
        self.reload()

    def action_use(self) -> None:
        name = self.selected()
        if name:
            self.app.use_model(name)
            self.app.pop_screen()

    def action_delete(self) -> None:
        name = self.selected()
        if not name:
            return

        async def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            try:
                await self.app.backend.delete(name)
            except EmberError as exc:
                self.notify(str(exc), severity="error")
                return
            self.notify(f"Deleted {name}")
            self.reload()

        self.app.push_screen(ConfirmScreen(f"Delete {name}? Its files go unless another model shares them."),
                             confirmed)

    def action_copy(self) -> None:
        name = self.selected()
        if not name:
            return

        async def answered(target: str | None) -> None:
            if not target:
                return
            try:
                await self.app.backend.copy(name, target)
            except EmberError as exc:
                self.notify(str(exc), severity="error")
                return
            self.notify(f"Copied {name} to {target}")
            self.reload(select=target)

        self.app.push_screen(AskScreen(f"Copy {name} as:", f"{name.split(':')[0]}-copy"), answered)

    def action_create(self) -> None:
        async def got_path(text: str | None) -> None:
            if not text:
                return
            path = Path(text).expanduser()
            if not path.is_file():
                self.notify(f'no Modelfile at "{path}" — give the path of an existing file', severity="error")
                return

            async def got_name(name: str | None) -> None:
                if name:
                    self.run_progress(f"Creating {name}",
                                      lambda: self.app.backend.create(name, path.read_text(encoding="utf-8"),
                                                                      base_dir=str(path.resolve().parent)),
                                      name)

            self.app.push_screen(AskScreen("Name of the new model:", path.stem.lower()), got_name)

        self.app.push_screen(AskScreen("Create a model from the Modelfile at:", "./Modelfile"), got_path)

    def action_pull(self) -> None:
        async def answered(name: str | None) -> None:
            if name:
                self.run_progress(f"Pulling {name}", lambda: self.app.backend.pull(name), name)

        self.app.push_screen(AskScreen("Pull which model?", "", hint="e.g. smollm2:135m · Enter: pull · Esc: cancel"),
                             answered)

    @work(exclusive=True, group="progress", exit_on_error=False)
    async def run_progress(self, title: str, start, name: str) -> None:  # type: ignore[no-untyped-def]
        box = self.query_one("#pull")
        bar = self.query_one("#pull-bar", ProgressBar)
        status = self.query_one("#pull-status", Label)
        box.add_class("active")
        status.update(title)
        bar.update(total=None, progress=0)
        try:
            async for event in start():
                if event.total:
                    bar.update(total=event.total, progress=event.completed)
                    status.update(f"{title}: {event.status} {human_size(event.completed)}/{human_size(event.total)}")
                else:
                    status.update(f"{title}: {event.status}")
        except EmberError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        finally:
            box.remove_class("active")
        self.notify(f"{title}: done")
        self.reload(select=name)
