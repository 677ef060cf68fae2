"""Where the app's chat can run: the backend it started on, and each named remote ([remotes.NAME] in
config.toml). A remote is probed in the background and opened only when a chat moves to it; opened
backends are kept so that moving back and forth costs no new connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ember.backend.errors import EmberError
from ember.backend.remote.endpoints import Remote, load_remotes, open_endpoint, target
from ember.backend.remote.probe import RemoteStatus, probe_all
from ember.backend.service import Backend

HOME = ""  # the name of the endpoint the app started on
LIBRARY_PROBE_TIMEOUT = 2.0  # seconds a remote may take to answer before the library marks it unreachable


@dataclass
class Endpoints:
    home: Backend
    remotes: dict[str, Remote] = field(default_factory=dict)
    notify: Callable[[str], None] | None = None  # where a remote reports a parameter its server ignores
    statuses: dict[str, RemoteStatus] = field(default_factory=dict)  # the last probe of each remote
    opened: dict[str, Backend] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, home: Backend, notify: Callable[[str], None] | None = None,
                    remotes: dict[str, Remote] | None = None) -> Endpoints:
        """The endpoints in config.toml; a malformed remotes table is a problem to show, not a crash."""
        problems = []
        if remotes is None:
            try:
                remotes = load_remotes()
            except EmberError as exc:
                remotes, problems = {}, [str(exc)]
        return cls(home, dict(remotes), notify, problems=problems)

    @property
    def home_label(self) -> str:
        label = getattr(getattr(self.home, "transport", None), "label", "")
        return f"{label} (started here)" if label else "this machine"

    async def probe(self, timeout: float = LIBRARY_PROBE_TIMEOUT) -> list[RemoteStatus]:
        """Every remote at once; the whole takes about `timeout` at most, whatever the servers do."""
        results = await probe_all(self.remotes, timeout)
        self.statuses.update({status.name: status for status in results})
        return results

    async def backend(self, name: str) -> Backend:
        """The backend of an endpoint: HOME or a remote's name; a remote opened on first use."""
        if name == HOME:
            return self.home
        if name in self.opened:
            return self.opened[name]
        remote = self.remotes.get(name)
        if remote is None:
            raise EmberError(f'no remote "{name}" in config.toml — add it with "ember remote add {name} URL"')
        from ember.backend.remote.detect import Endpoint, detect_async

        where = target(name, None, "", self.remotes)
        status = self.statuses.get(name)
        if status is not None and status.answers:
            endpoint = Endpoint(status.url, status.api)  # already detected by the probe
        else:
            endpoint = await detect_async(where.address, where.api, where.api_key)
        backend = open_endpoint(endpoint, where, self.notify)
        self.opened[name] = backend
        return backend

    async def close(self) -> None:
        for backend in self.opened.values():
            try:
                await backend.close()
            except Exception:  # closing at exit: nothing left to report to
                pass
        self.opened.clear()
