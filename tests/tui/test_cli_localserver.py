"""One copy of the models: with an `ember serve` running on this machine (the configured loopback port),
the CLI and the app use it, as Ollama's CLI uses its server, and the app's status line says so;
`--in-process` / EMBER_IN_PROCESS=1 load the models in the command's own process (a real `ember serve`
on a spare port, in its own process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ember.tui.cli.localserver import IN_PROCESS_ENV, ember_server_url, loopback_address

from tests.remote.conftest import silent_endpoint  # noqa: F401  (a fixture used below)
from tests.tui.conftest import MODEL, send

pytestmark = pytest.mark.timeout(150)

SHORT = "served/short"


@dataclass
class Served:
    port: int
    config_dir: Path
    env: dict[str, str]  # for `ember` in a subprocess: this session's store, config.toml naming the port

    @property
    def label(self) -> str:
        return f"ember serve 127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ember(served: Served, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", *args], env={**served.env, **extra},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def served(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`ember serve` on a spare loopback port, and a config.toml whose `host` is that port."""
    port = free_port()
    config_dir = tmp_path_factory.mktemp("served-config")
    (config_dir / "config.toml").write_text(f'host = "127.0.0.1:{port}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("EMBER_HOST", IN_PROCESS_ENV, "EMBER_API_KEY")}
    env["EMBER_CONFIG"] = str(config_dir)
    server = subprocess.Popen([sys.executable, "-m", "tui", "serve", "--listen", f"127.0.0.1:{port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while ember_server_url(f"127.0.0.1:{port}") is None:
            assert server.poll() is None and time.monotonic() < deadline, "ember serve did not start"
            time.sleep(0.1)
        yield Served(port, config_dir, env)
    finally:
        server.terminate()
        server.wait(15)


def test_the_cli_uses_the_ember_serve_running_here_unless_told_in_process(served: Served, tmp_path: Path) -> None:
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(f"FROM {MODEL}\nPARAMETER num_predict 4\nPARAMETER temperature 0\n")
    made = ember(served, "create", SHORT, "-f", str(modelfile))
    assert made.returncode == 0, made.stderr
    try:
        answered = ember(served, "run", SHORT, "Say hi")
        assert answered.returncode == 0 and answered.stdout.strip(), answered.stderr
        # the answer's model stays loaded in the server's process: `ember ps` asks the server
        running = ember(served, "ps")
        assert running.returncode == 0 and SHORT in running.stdout, running.stdout + running.stderr
        for alone in (ember(served, "--in-process", "ps"), ember(served, "ps", **{IN_PROCESS_ENV: "1"})):
            assert alone.returncode == 0 and SHORT not in alone.stdout  # a process of its own has nothing loaded
        listed = ember(served, "list")
        assert listed.returncode == 0 and SHORT in listed.stdout
    finally:
        ember(served, "stop", SHORT)
        ember(served, "rm", SHORT)


async def test_the_app_uses_it_and_the_status_line_says_so(served: Served, config, history, tmp_path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from ember.backend.models.personas import load_personas
    from ember.backend.remote.ollama_backend import RemoteBackend
    from ember.tui.app.app import EmberApp
    from ember.tui.app.widgets.status_line import StatusLine
    from ember.tui.cli.main import build_parser, open_backend

    monkeypatch.setenv("EMBER_CONFIG", str(served.config_dir))
    monkeypatch.delenv(IN_PROCESS_ENV, raising=False)
    args = build_parser().parse_args(["run", MODEL])
    backend = open_backend(args)
    assert isinstance(backend, RemoteBackend) and args.served_by == served.label
    app = EmberApp(backend, MODEL, config=config, history=history, personas=load_personas(tmp_path / "none"),
                   keymap={}, load_model=False, served_by=args.served_by)
    app.session.overrides.update({"num_predict": 4, "temperature": 0.0})
    try:
        async with app.run_test(size=(100, 24), notifications=True) as pilot:
            chat = app.chat_screen()
            status = chat.query_one(StatusLine).status
            assert f"via {served.label}" in status.render()
            assert any(served.label in n.message and "--in-process" in n.message for n in app._notifications)
            await send(pilot, "Hi")
            assert app.session.turns[-1].role == "assistant" and app.session.turns[-1].content
            assert MODEL in [m.name for m in await backend.running()]  # loaded in the server, not here
    finally:
        await backend.close()
    monkeypatch.setenv(IN_PROCESS_ENV, "1")
    args = build_parser().parse_args(["run", MODEL])
    local = open_backend(args)
    assert not isinstance(local, RemoteBackend) and not getattr(args, "served_by", "")
    await local.close()


def test_only_an_ember_server_on_this_machine_is_used(silent_endpoint: str) -> None:  # noqa: F811
    assert loopback_address("192.0.2.7:11434") is None  # another machine is a --host, never guessed
    assert loopback_address("0.0.0.0:9000") == ("127.0.0.1", 9000)
    assert ember_server_url(f"127.0.0.1:{free_port()}") is None  # nothing listens
    assert ember_server_url(silent_endpoint, timeout=0.3) is None  # something that never answers
