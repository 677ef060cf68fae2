"""The API's rule for URL pulls, applied behind Backend.pull: https only, public addresses only unless
EMBER_PULL_HOSTS names the host, every redirect held to it, and one error text whatever happened."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from ember.backend.config import Config
from ember.backend.errors import Offline, PullError
from ember.backend.local.local_backend import LocalBackend
from ember.backend.pull import url as url_pull
from ember.backend.pull.urlrule import check_api_url, refusal
from ember.backend.store.modelstore import ModelStore

from tests.backend.test_pull_hf import REPO, files, hub  # noqa: F401 (fixtures)
from tests.faults.conftest import env_for

FILE = "SmolLM2-135M-Instruct-Q4_1.gguf"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def local(tmp_path: Path) -> LocalBackend:
    return LocalBackend(Config(models=tmp_path / "models"))


async def _api_pull(backend: LocalBackend, address: str) -> str:
    with pytest.raises(PullError) as refused:
        async for _ in backend.pull(address, over_api=True):
            pass
    return str(refused.value)


@pytest.mark.parametrize("address", [
    "http://example.com/model.gguf", "https://127.0.0.1/model.gguf", "https://[::1]:8443/model.gguf",
    "https://169.254.169.254/latest/meta-data/model.gguf", "https://10.1.2.3/model.gguf",
    "https://192.168.0.10/model.gguf", "https://localhost/model.gguf", "https://[::ffff:127.0.0.1]/m.gguf",
    "https://user:pw@93.184.215.14/model.gguf", "https://93.184.215.14/index.html?file=model.gguf",
])
def test_the_rule_refuses_plain_http_private_addresses_and_non_gguf_paths(address: str) -> None:
    with pytest.raises(PullError) as refused:
        check_api_url(address)
    assert str(refused.value) == str(refusal(address))


def test_the_rule_lets_public_https_and_configured_hosts_through() -> None:
    check_api_url("https://93.184.215.14/models/model.gguf?download=1")
    check_api_url("https://127.0.0.1:8443/model.gguf", ("127.0.0.1",))
    check_api_url("https://models.lan/model.gguf", ("*.lan",))


async def test_every_failure_over_the_api_reads_the_same_whatever_the_port_does(hub, local) -> None:  # noqa: F811
    answering = f"{hub.cdn}/files/{FILE}"
    closed = f"http://127.0.0.1:{_closed_port()}/files/{FILE}"
    texts = {(await _api_pull(local, answering)).replace(answering, "URL"),
             (await _api_pull(local, closed)).replace(closed, "URL"),
             (await _api_pull(local, answering + "?x=1")).replace(answering + "?x=1", "URL")}
    assert len(texts) == 1
    assert not hub.seen, "the server fetched a URL the rule refuses"
    assert await local.list_models() == []


async def test_an_https_gguf_url_over_the_api_is_not_taken_for_a_file(local) -> None:
    text = await _api_pull(local, "https://no-such-host.invalid/model.gguf")
    assert "file on the server" not in text and text == str(refusal("https://no-such-host.invalid/model.gguf"))
    assert "file on the server" in await _api_pull(local, "./model.gguf")


async def test_each_redirect_is_held_to_the_rule(hub, local) -> None:  # noqa: F811
    """The Hub stand-in redirects /resolve/ to its CDN on another port: a rule that allows only the
    first port stops there; one that allows both pulls the file."""
    start = f"{hub.url}/{REPO}/resolve/main/{FILE}"
    first = urlsplit(hub.url).port
    seen: list[str] = []

    def only_first(address: str) -> None:
        seen.append(address)
        if urlsplit(address).port != first:
            raise refusal(address)

    store = ModelStore(local.store.root)
    with pytest.raises(PullError) as refused:
        list(url_pull.pull(store, start, threading.Event(), allowed=only_first))
    assert str(refused.value) == str(refusal(start)) and len(seen) == 1
    assert not [s for s in hub.seen if s.path.startswith("/files/")]
    events = list(url_pull.pull(store, start, threading.Event(), allowed=seen.append))
    assert events[-1].status == "success" and len(seen) == 2


async def test_hf_hub_offline_makes_a_url_pull_one_line(local, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Offline, match="HF_HUB_OFFLINE is set"):
        async for _ in local.pull("https://example.com/model.gguf"):
            pass
    cli = subprocess.run([sys.executable, "-m", "tui", "pull", "https://example.com/model.gguf"],
                         capture_output=True, text=True, env=env_for(tmp_path), timeout=120)
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    assert cli.stderr.strip().startswith("Error:") and "HF_HUB_OFFLINE" in cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1
