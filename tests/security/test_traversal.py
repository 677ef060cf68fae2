"""Names, digests and paths that try to leave the store, in every endpoint and every CLI verb.

Each attempt must be refused with a 4xx (one line on the command line) and leave the store, the
folder beside it (which holds a valid GGUF an escape would reach) and the working directory as
they were: no file read into the store, none written outside it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.conftest import MODEL

pytestmark = pytest.mark.usefixtures("untouched")

ESCAPES = [
    "../../outside/secret",
    "../secret.gguf",
    "library/../../../secret",
    "x/../../../../etc/passwd:latest",
    "smollm2:../../../secret",
    "hf.co/../../secret",
    "..%2f..%2fsecret",
    "%2e%2e/%2e%2e/secret",
    "%2e%2e%2f%2e%2e%2fsecret",
    "sha256:../../x",
    "sha256-../../../x",
    "sha256:" + "0" * 63 + "/",
    "..\\..\\secret",
    "~/secret.gguf",
    "/etc/passwd",
    "a/b/c/d:e",
    "secret\x00.gguf",
    "C:\\Windows\\win.ini",
]


def _absolute(outside: Path) -> list[str]:
    return [str(outside / "secret.gguf"), str(outside), str(outside / "secret.txt"),
            f"{outside}/../{outside.name}/secret.gguf", "file://" + str(outside / "secret.gguf")]


def _refused(response: httpx.Response, where: str) -> str:
    assert 400 <= response.status_code < 500, f"{where}: {response.status_code} {response.text[:200]}"
    body = response.json()
    message = body["error"] if isinstance(body["error"], str) else body["error"]["message"]
    assert message and "Traceback" not in message
    return message


def _requests(name: str) -> list[tuple[str, str, dict]]:
    """Every endpoint that takes a model name, with `name` in each place a name goes."""
    chat = [{"role": "user", "content": "hi"}]
    return [
        ("POST", "/api/show", {"model": name}),
        ("POST", "/api/show", {"name": name}),
        ("DELETE", "/api/delete", {"model": name}),
        ("POST", "/api/copy", {"source": name, "destination": "sec/copy:1"}),
        ("POST", "/api/copy", {"source": MODEL, "destination": name}),
        ("POST", "/api/pull", {"model": name, "stream": False}),
        ("POST", "/api/push", {"model": name, "stream": False}),
        ("POST", "/api/create", {"model": name, "from": MODEL, "stream": False}),
        ("POST", "/api/create", {"model": "sec/made", "from": name, "stream": False}),
        ("POST", "/api/create", {"model": "sec/made", "modelfile": f"FROM {name}\n", "stream": False}),
        ("POST", "/api/create", {"model": "sec/made", "modelfile": f"FROM {MODEL}\nADAPTER {name}\n",
                                 "stream": False}),
        ("POST", "/api/generate", {"model": name, "prompt": "hi", "stream": False}),
        ("POST", "/api/generate", {"model": name, "prompt": "", "stream": False}),
        ("POST", "/api/chat", {"model": name, "messages": chat, "stream": False}),
        ("POST", "/api/chat", {"model": name, "messages": chat, "stream": True}),
        ("POST", "/api/embed", {"model": name, "input": "hi"}),
        ("POST", "/api/embeddings", {"model": name, "prompt": "hi"}),
        ("POST", "/v1/chat/completions", {"model": name, "messages": chat}),
        ("POST", "/v1/chat/completions", {"model": name, "messages": chat, "stream": True}),
        ("POST", "/v1/completions", {"model": name, "prompt": "hi"}),
        ("POST", "/v1/embeddings", {"model": name, "input": "hi"}),
    ]


@pytest.mark.timeout(120)
def test_every_endpoint_refuses_names_that_escape_the_store(server: str, outside: Path) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        for name in ESCAPES + _absolute(outside):
            for method, path, body in _requests(name):
                _refused(client.request(method, path, json=body), f"{method} {path} {body}")


def test_paths_in_the_url_are_refused_too(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        for raw in ["..%2F..%2Foutside%2Fsecret", "%2e%2e/%2e%2e/etc/passwd", "..%252f..%252fsecret",
                    "library%2F..%2F..%2Fsecret", "sha256:..%2F..%2Fx"]:
            response = client.get(f"/v1/models/{raw}")
            _refused(response, raw)
        assert client.get("/api/../../../etc/passwd").status_code == 404


def test_a_server_reads_no_file_a_client_names(server: str, outside: Path) -> None:
    """`ember pull PATH` and FROM PATH work on this machine, but never through the API."""
    secret = str(outside / "secret.gguf")
    with httpx.Client(base_url=server, timeout=30) as client:
        message = _refused(client.post("/api/pull", json={"model": secret, "stream": False}), "pull")
        assert "ember pull PATH" in message
        message = _refused(client.post("/api/create", json={"model": "sec/x", "modelfile": f"FROM {secret}",
                                                            "stream": False}), "create")
        assert "never a file on the server" in message
        # no answer may tell a file that exists from one that does not
        missing = _refused(client.post("/api/create", json={"model": "sec/x", "stream": False,
                                                            "modelfile": f"FROM {outside}/nothing.gguf"}), "x")
        assert missing == message.replace("secret.gguf", "nothing.gguf")


@pytest.mark.parametrize("argv", [
    ["show", "../../outside/secret"], ["show", "sha256:../../x"], ["rm", "../../outside/secret"],
    ["rm", "/etc/passwd"], ["cp", MODEL, "../../../pwned"], ["cp", "../../x", "sec/copy"],
    ["cp", MODEL, "sha256:../../pwned"], ["stop", "../x"], ["run", "../../x", "hi"],
    ["run", "sha256:../../x", "hi"], ["pull", "sha256:../../x"], ["pull", "..%2f..%2fx"],
    ["create", "../../pwned", "-f", "Modelfile"], ["create", "/tmp/pwned", "-f", "Modelfile"],
])
def test_every_cli_verb_refuses_names_that_escape(argv: list[str], capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ember.tui.cli.main import main

    monkeypatch.delenv("EMBER_HOST", raising=False)
    (tmp_path / "Modelfile").write_text(f"FROM {MODEL}\n")
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: ") and len(err.splitlines()) == 1, err
    assert not list(tmp_path.parent.rglob("pwned*"))


def test_a_modelfile_from_that_escapes_by_name_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from ember.tui.cli.main import main

    monkeypatch.chdir(tmp_path)
    for base in ["sha256:../../x", "library/../../secret", "..%2fsecret"]:
        (tmp_path / "Modelfile").write_text(f"FROM {base}\n")
        assert main(["create", "sec/made"]) == 1
        err = capsys.readouterr().err
        assert err.splitlines()[-1].startswith("Error: Modelfile line 1") and "Traceback" not in err
