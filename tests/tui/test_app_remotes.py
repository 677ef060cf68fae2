"""The app with named remotes: the library groups this machine's models and each remote's, says which
remote answers (without waiting for one that never does), and a chat moves to a remote model and back
with its conversation."""

from __future__ import annotations

from pathlib import Path

import pytest
from ember.backend.remote.ollama_backend import RemoteBackend
from ember.tui.app.endpoints import HOME
from ember.tui.app.screens.library import LibraryScreen, row_key
from ember.tui.app.widgets.message_view import MessageView
from ember.tui.app.widgets.status_line import StatusLine

from tests.remote.conftest import ember_server, silent_endpoint  # noqa: F401  (fixtures used below)
from tests.tui.conftest import MODEL, send, wait_for

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def remotes_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ember_server: str,  # noqa: F811
                   silent_endpoint: str) -> Path:  # noqa: F811
    """config.toml with a live remote (ember serve on loopback) and one that accepts and never answers."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "config.toml").write_text(
        f'[remotes.live]\nurl = "{ember_server}"\n\n[remotes.dead]\nurl = "http://{silent_endpoint}"\n',
        encoding="utf-8")
    monkeypatch.setenv("EMBER_CONFIG", str(config_dir))
    return config_dir


def cell(library: LibraryScreen, endpoint: str, name: str = "") -> str:
    return str(library.table.get_cell(row_key((endpoint, name)), "NAME"))


async def open_library(pilot) -> LibraryScreen:  # type: ignore[no-untyped-def]
    pilot.app.action_open_library()
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, LibraryScreen) and pilot.app.screen.rows)
    return pilot.app.screen


async def test_the_library_groups_local_and_remote_models_and_marks_a_silent_remote(make_app, remotes_config):
    app = make_app()
    async with app.run_test(size=(110, 30)) as pilot:
        assert set(app.endpoints.remotes) == {"live", "dead"}
        assert app.endpoints.statuses == {}  # starting the app asked no remote anything
        library = await open_library(pilot)
        # the first paint lists every group while the remotes are still being asked
        assert [row for row in library.rows if not row[1]] == [(HOME, ""), ("live", ""), ("dead", "")]
        assert "checking" in cell(library, "dead")
        await wait_for(pilot, lambda: (HOME, MODEL) in library.rows)
        assert "this machine" in cell(library, HOME)
        await wait_for(pilot, lambda: ("live", MODEL) in library.rows, timeout=20)
        assert "answers, " in cell(library, "live")  # its store is this session's: more models as tests add them
        await wait_for(pilot, lambda: "checking" not in cell(library, "dead"), timeout=20)
        assert "unreachable" in cell(library, "dead")
        assert [row for row in library.rows if row[0] == "dead"] == [("dead", "")]  # no models under it
        library.table.move_cursor(row=library.rows.index(("dead", "")))
        await pilot.pause()
        assert "unreachable" in str(library.query_one("#details").render())


async def test_choosing_a_remote_model_moves_the_chat_there_and_keeps_the_conversation(make_app, remotes_config,
                                                                                      history):
    app = make_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await send(pilot, "Say hi.")
        first_answer = app.session.turns[-1].content
        assert first_answer.strip()
        library = await open_library(pilot)
        await wait_for(pilot, lambda: ("live", MODEL) in library.rows, timeout=20)
        library.table.move_cursor(row=library.rows.index(("live", MODEL)))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.endpoint == "live", timeout=20)
        assert isinstance(app.backend, RemoteBackend) and app.session.backend is app.backend
        chat = app.chat_screen()
        status = chat.query_one(StatusLine).status
        assert status.endpoint == "live" and "@ live" in status.render()

        await send(pilot, "Say bye.")
        turns = app.session.turns
        assert [(t.role, t.content) for t in turns[:2]] == [("user", "Say hi."), ("assistant", first_answer)]
        assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
        assert turns[-1].content.strip()
        views = chat.query(MessageView)
        assert views.last().markdown.source == turns[-1].content
        assert status.tokens_per_second > 0 and status.first_token_ms > 0  # the remote's timings
        stored = history.messages(app.session.conversation_id)
        assert [m.content for m in stored] == [t.content for t in turns]

        # and back to this machine: the same conversation continues on the local backend
        library = await open_library(pilot)
        await wait_for(pilot, lambda: (HOME, MODEL) in library.rows)
        library.table.move_cursor(row=library.rows.index((HOME, MODEL)))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.endpoint == HOME)
        assert app.backend is app.endpoints.home and len(app.session.turns) == 4
        await app.endpoints.close()
