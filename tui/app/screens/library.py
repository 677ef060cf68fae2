"""The model library: the local models, then each named remote's models, in groups with whether each
remote answers (probed in the background, so a silent one delays nothing); their details and Modelfile;
use (on whichever endpoint), copy, delete, create, pull (on this machine)."""

from __future__ import annotations

import time
from pathlib import Path

from ember.backend.errors import EmberError
from ember.backend.remote.probe import RemoteStatus
from ember.backend.types import ModelInfo, ModelSummary
from ember.tui.app.access import ember_app
from ember.tui.app.endpoints import HOME, LIBRARY_PROBE_TIMEOUT
from ember.tui.app.pathsuggest import PathSuggester, suggested_model_name
from ember.tui.app.screens.ask import AskScreen
from ember.tui.app.screens.confirm import ConfirmScreen
from ember.tui.app.screens.librarycolumns import COLUMNS, columns_for
from ember.tui.cli.format import human_size
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, ProgressBar, Static

Row = tuple[str, str]  # (endpoint, model name); an empty name is the group's heading


def row_key(row: Row) -> str:
    return row[1] if row[0] == HOME and row[1] else f"{row[0]}\t{row[1]}"  # this machine's: the bare name


def remote_state(status: RemoteStatus | None) -> str:
    """What a remote's heading says about it."""
    if status is None:
        return "checking…"
    if status.answers:
        return status.status
    if status.status == "no answer":
        return f"unreachable (no answer in {LIBRARY_PROBE_TIMEOUT:g} s)"
    return status.status


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
        self.models: list[ModelSummary] = []  # this machine's (the backend the app started on)
        self.infos: dict[str, ModelInfo] = {}
        self.rows: list[Row] = []
        self.show_modelfile = False
        self.probing: set[str] = set()  # remotes whose answer is awaited
        self.columns: tuple[str, ...] = COLUMNS  # those shown: what fits the terminal's width
        self.wanted: Row | None = None

    def compose(self) -> ComposeResult:
        yield Label("Models — this machine, then each remote (r re-checks them)", classes="title")
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
        self.add_columns()
        self.table.focus()
        self.wanted = (ember_app(self).endpoint, ember_app(self).session.model)  # the cursor starts on it once it is listed
        self.show_rows()
        self.reload()
        self.probe_remotes()

    def add_columns(self) -> None:
        """The columns that fit the terminal (a narrow one drops the least needed first)."""
        self.columns = columns_for(self.app.size.width, self.name_width())
        for column in self.columns:
            # CTX arrives after the rows: a fixed width (up to 1048576), as a cell's wider value
            # does not always widen an auto-sized column's rows already drawn
            self.table.add_column(column, key=column, width=7 if column == "CTX" else None)

    def name_width(self) -> int:
        indent = 2 if self.endpoints.remotes else 0
        return max([12, *(len(m.name) + indent for m in self.models)])

    def on_resize(self) -> None:
        self.fit_columns()

    def fit_columns(self) -> None:
        """After a resize, or when the names listed change: the columns again, if others fit now."""
        if self.is_mounted and columns_for(self.app.size.width, self.name_width()) != self.columns:
            self.table.clear(columns=True)
            self.add_columns()
            self.show_rows()

    @property
    def endpoints(self):
        return ember_app(self).endpoints

    def selected_row(self) -> Row | None:
        if not self.rows or self.table.cursor_row < 0:
            return None
        return self.rows[min(self.table.cursor_row, len(self.rows) - 1)]

    def selected(self) -> str | None:
        """The selected model of this machine (what copy, delete and the details work on)."""
        row = self.selected_row()
        return row[1] if row and row[0] == HOME and row[1] else None

    def show_rows(self, select: Row | None = None) -> None:
        """Fill the table: this machine's group, then each remote's heading and models."""
        table = self.table
        select = select or self.wanted or self.selected_row()
        rows: list[Row] = []
        table.clear()

        def heading(endpoint: str, text: str) -> None:
            rows.append((endpoint, ""))
            table.add_row(f"── {text}", key=row_key((endpoint, "")))

        def model(endpoint: str, summary: ModelSummary, ctx: str) -> None:
            rows.append((endpoint, summary.name))
            modified = time.strftime("%Y-%m-%d", time.localtime(summary.modified_at)) if summary.modified_at else ""
            cells = dict(zip(COLUMNS, (f"  {summary.name}" if grouped else summary.name,
                                       human_size(summary.size) if summary.size else "",
                                       summary.details.quantization_level, summary.details.family,
                                       summary.details.parameter_size, ctx, modified), strict=True))
            table.add_row(*(cells[c] for c in self.columns), key=row_key((endpoint, summary.name)))

        grouped = bool(self.endpoints.remotes)  # without remotes the library is one plain list
        if grouped:
            heading(HOME, self.endpoints.home_label)
        for summary in self.models:
            info = self.infos.get(summary.name)
            model(HOME, summary, context_length(info) if info else "…")
        for name, remote in self.endpoints.remotes.items():
            status = self.endpoints.statuses.get(name) if name not in self.probing else None
            heading(name, f"{name} · {remote.url} · {remote_state(status)}")
            for summary in sorted(status.models if status else [], key=lambda m: m.name):
                model(name, summary, "")
        self.rows = rows
        if select in rows:
            table.move_cursor(row=rows.index(select))
            if select == self.wanted:
                self.wanted = None
        self.show_details()

    @work(exclusive=True, group="probe", exit_on_error=False)
    async def probe_remotes(self) -> None:
        """Ask every remote at once what it serves; each heading says whether it answered."""
        if not self.endpoints.remotes:
            return
        self.probing = set(self.endpoints.remotes)
        self.show_rows()
        try:
            await self.endpoints.probe()
        finally:
            self.probing = set()
            self.show_rows()

    @work(exclusive=True, group="list", exit_on_error=False)
    async def reload(self, select: str | None = None) -> None:
        try:
            self.models = sorted(await self.endpoints.home.list_models(), key=lambda m: m.name)
        except EmberError as exc:
            self.notify(str(exc), severity="error")
            return
        self.show_rows(select=(HOME, select) if select else None)
        self.fit_columns()
        for model in self.models:
            try:
                info = await self.endpoints.home.show(model.name)
            except EmberError:
                continue
            self.infos[model.name] = info
            if "CTX" in self.columns:
                self.table.update_cell(row_key((HOME, model.name)), "CTX", context_length(info))
        self.show_details()

    @on(DataTable.RowHighlighted)
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_details()

    def show_details(self) -> None:
        row = self.selected_row()
        if row is not None and row[0] != HOME:
            self.query_one("#details", Static).update(self.describe_remote(*row))
            return
        if not self.models:
            self.query_one("#details", Static).update("No models yet — p pulls one, n creates one from a Modelfile.")
        name = self.selected()
        info = self.infos.get(name or "")
        if info is None:
            return
        text = info.modelfile if self.show_modelfile else describe(info)
        self.query_one("#details", Static).update(text)

    def action_toggle_modelfile(self) -> None:
        self.show_modelfile = not self.show_modelfile
        self.show_details()

    def describe_remote(self, endpoint: str, name: str) -> str:
        remote = self.endpoints.remotes[endpoint]
        status = self.endpoints.statuses.get(endpoint)
        lines = [f"{'remote':<18}{endpoint}", f"{'url':<18}{status.url if status else remote.url}",
                 f"{'api':<18}{(status.api if status else '') or remote.api or 'detected when used'}",
                 f"{'status':<18}{remote_state(status if endpoint not in self.probing else None)}"]
        if remote.key_env:
            lines.append(f"{'key':<18}${remote.key_env} ({'set' if remote.api_key() else 'not set'})")
        if name:
            lines = [f"{'model':<18}{name}", *lines, "", "Enter moves this chat to it; the conversation stays."]
        return "\n".join(lines)

    def action_refresh(self) -> None:
        self.reload()
        self.probe_remotes()

    def action_use(self) -> None:
        row = self.selected_row()
        if row and row[1]:
            ember_app(self).use_model(row[1], row[0])
            self.app.pop_screen()

    def action_delete(self) -> None:
        name = self.selected()
        if not name:
            return

        async def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            try:
                await self.endpoints.home.delete(name)
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
                await self.endpoints.home.copy(name, target)
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
                                      lambda: self.endpoints.home.create(name, path.read_text(encoding="utf-8"),
                                                                      base_dir=str(path.resolve().parent)),
                                      name)

            self.app.push_screen(AskScreen("Name of the new model:", suggested_model_name(path)), got_name)

        self.app.push_screen(AskScreen("Create a model from the Modelfile at:", "./Modelfile",
                                       hint="Tab: complete the path · Enter: OK · Esc: cancel",
                                       suggester=PathSuggester()), got_path)

    def action_pull(self) -> None:
        async def answered(name: str | None) -> None:
            if name:
                self.run_progress(f"Pulling {name}", lambda: self.endpoints.home.pull(name), name)

        self.app.push_screen(AskScreen("Pull which model?", "", hint="e.g. smollm2:135m · Enter: pull · Esc: cancel"),
                             answered)

    @work(exclusive=True, group="progress", exit_on_error=False)
    async def run_progress(self, title: str, start, name: str) -> None:
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
