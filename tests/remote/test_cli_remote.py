"""The command line on remote servers: --host and --api, named remotes (ember remote list|add|rm), keys
that never show, honest numbers in --verbose, one line for what a server cannot do."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from ember.tui.cli.main import main

from tests.remote.conftest import KEY, MODEL, cli_env, ember


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EMBER_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv("EMBER_HOST", raising=False)
    return tmp_path / "config"


def test_a_named_remote_keeps_the_name_of_its_key_variable_never_the_key(
        keyed_server: str, config_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TEST_REMOTE_KEY", KEY)
    assert main(["remote", "add", "box", keyed_server, "--key-env", "TEST_REMOTE_KEY"]) == 0
    added = capsys.readouterr().out
    assert f"added remote 'box': {keyed_server} (openai; answers, 1 model)" in added
    saved = (config_home / "config.toml").read_text()
    assert tomllib.loads(saved)["remotes"]["box"] == {"url": keyed_server, "api": "openai", "key_env": "TEST_REMOTE_KEY"}
    assert KEY not in saved

    assert main(["remote", "list"]) == 0
    listed = capsys.readouterr().out
    assert "box" in listed and "$TEST_REMOTE_KEY (set)" in listed and "answers, 1 model" in listed
    assert KEY not in listed

    monkeypatch.setenv("TEST_REMOTE_KEY", "not-the-key")
    assert main(["remote", "list"]) == 0
    assert "refused the key" in capsys.readouterr().out
    monkeypatch.delenv("TEST_REMOTE_KEY")
    assert main(["remote", "list"]) == 0
    assert "$TEST_REMOTE_KEY (not set)" in (out := capsys.readouterr().out) and "needs a key" in out

    assert main(["remote", "rm", "box"]) == 0
    assert main(["remote", "list"]) == 0
    assert "No remotes yet" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "error"), [
    (["add", "gpu", "http://user:secret@gpu:8000/v1"], "must not carry a key or a password"),
    (["add", "gpu", "http://gpu:8000/v1?api_key=secret"], "must not carry a key or a password"),
    (["add", "gpu", "http://gpu:8000/v1", "--key-env", "sk-abc123"], "NAME of the environment variable"),
    (["add", "a/b", "http://gpu:8000"], "cannot name a remote"),
    (["rm", "nowhere"], 'no remote "nowhere"'),
])
def test_remote_mistakes_are_one_line_and_nothing_is_written(
        args: list[str], error: str, config_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["remote", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and error in err and err.count("\n") == 1 and "secret" not in err
    assert not (config_home / "config.toml").exists()


def test_a_silent_remote_is_listed_as_not_answering(silent_endpoint: str, config_home: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["remote", "add", "quiet", silent_endpoint, "--api", "openai"]) == 0
    assert "no answer" in capsys.readouterr().out
    assert main(["remote", "list"]) == 0
    assert "no answer" in capsys.readouterr().out


@pytest.mark.timeout(180)
def test_run_list_show_and_pull_on_an_openai_server(openai_server: str, tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    listed = ember(["--host", openai_server, "list"], env)
    assert listed.returncode == 0 and listed.stdout.splitlines()[1].split()[0] == MODEL
    answered = ember(["--host", openai_server + "/v1", "run", MODEL, "--verbose", "Say hello."], env)
    assert answered.returncode == 0 and answered.stdout.strip(), answered.stderr
    assert "time to first token:" in answered.stderr and "eval rate:" in answered.stderr
    assert "(pieces streamed; the server sent no usage)" in answered.stderr
    piped = ember(["--host", openai_server, "--api", "openai", "run", MODEL], env, stdin="Say hello.")
    assert piped.returncode == 0 and piped.stdout.strip()
    for verb in (["pull", MODEL], ["rm", MODEL], ["cp", MODEL, "x"], ["ps"]):
        refused = ember(["--host", openai_server, *verb], env)
        assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
        assert "not supported by this server (OpenAI-compatible API)" in refused.stderr
    missing = ember(["--host", openai_server, "run", "llama3.3:70b", "hi"], env)
    assert missing.returncode == 1
    assert missing.stderr == (f'Error: model "llama3.3:70b" not found on the server at {openai_server}/v1 — '
                              f'see "ember --host {openai_server} list"\n')


@pytest.mark.timeout(180)
def test_a_named_remote_with_a_key_through_host(keyed_server: str, tmp_path: Path) -> None:
    env = cli_env(tmp_path, TEST_REMOTE_KEY=KEY)
    assert ember(["remote", "add", "box", keyed_server, "--key-env", "TEST_REMOTE_KEY"], env).returncode == 0
    answered = ember(["--host", "box", "run", MODEL, "Say hello."], env)
    assert answered.returncode == 0 and answered.stdout.strip(), answered.stderr
    refused = ember(["--host", keyed_server, "list"], env)  # the address alone: no key is sent
    assert refused.returncode == 1 and "needs an API key" in refused.stderr and KEY not in refused.stderr


@pytest.mark.timeout(180)
def test_ember_serve_as_an_ollama_compatible_remote(ember_server: str, short_model: str, tmp_path: Path) -> None:
    env = cli_env(tmp_path, EMBER_MODELS=str(tmp_path / "empty"))
    answered = ember(["--host", ember_server, "run", short_model, "--verbose", "Say hello."], env)
    assert answered.returncode == 0 and answered.stdout.strip(), answered.stderr
    assert "time to first token:" in answered.stderr and "prompt eval rate:" in answered.stderr
    forced = ember(["--host", ember_server, "--api", "openai", "list"], env)  # ember serve speaks both
    assert forced.returncode == 0 and MODEL in forced.stdout
    wrong = ember(["--api", "openai", "list"], env)
    assert wrong.returncode == 1 and "give --host URL too" in wrong.stderr


@pytest.mark.timeout(60)
async def test_every_remote_is_probed_at_once_and_a_silent_one_costs_one_timeout(
        openai_server: str, ember_server: str, silent_endpoint: str) -> None:
    from ember.backend.remote.endpoints import Remote, check_remote
    from ember.backend.remote.probe import probe_all

    remotes = {r.name: check_remote(r) for r in (Remote("llama", openai_server), Remote("ember", ember_server),
                                                   Remote("quiet", silent_endpoint), Remote("gone", "127.0.0.1:9"))}
    found = await probe_all(remotes, timeout=5.0)  # generous: the machine running the tests may be busy
    assert [(f.name, f.api, f.answers) for f in found] == [
        ("llama", "openai", True), ("ember", "ollama", True), ("quiet", "", False), ("gone", "", False)]
    assert [m.name for m in found[0].models] == [MODEL] and MODEL in [m.name for m in found[1].models]
    assert (found[2].status, found[3].status) == ("no answer", "unreachable")
