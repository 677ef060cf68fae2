"""/api/pull from Ollama's registry and /api/create's quantize, through the official `ollama` client."""

from __future__ import annotations

from pathlib import Path

import pytest
from ember.backend.config import Config
from ember.backend.local.local_backend import LocalBackend

from tests.api.conftest import running_server
from tests.registryserver import SMOLLM2_PARAMS, SMOLLM2_TEMPLATE, standard_registry


@pytest.fixture(scope="module")
def registry(smollm2_gguf: Path):
    server = standard_registry(smollm2_gguf).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, session_home: Path):  # type: ignore[no-untyped-def]
    """`ember serve` on its own store, so what these tests pull stays out of the session's."""
    config = Config(models=tmp_path_factory.mktemp("registry-api") / "models", keep_alive="0")
    with running_server(LocalBackend(config), config) as url:
        yield url


@pytest.fixture(scope="module")
def client(served: str):  # type: ignore[no-untyped-def]
    import ollama

    return ollama.Client(host=served)


def test_the_official_client_pulls_from_a_registry_with_insecure_and_chats_with_the_model(registry, client):
    name = f"{registry.host}/library/smollm2:135m"
    events = list(client.pull(name, insecure=True, stream=True))
    assert events[0].status == "pulling manifest" and events[-1].status == "success"
    layers = [e for e in events if e.status.startswith("pulling ") and e.digest]
    assert layers and all(e.digest.startswith("sha256:") and e.total for e in layers)
    assert {e.digest for e in layers if e.completed == e.total} == \
        {blob.digest for _, blob in registry.models["library/smollm2:135m"].layers}
    assert name in [m.model for m in client.list().models]
    shown = client.show(name)
    assert shown.template == SMOLLM2_TEMPLATE
    lines = [line.split(None, 1) for line in shown.parameters.splitlines()]
    assert ["temperature", str(SMOLLM2_PARAMS["temperature"])] in lines
    assert {value.strip('"') for key, value in lines if key == "stop"} == set(SMOLLM2_PARAMS["stop"])
    reply = client.chat(name, messages=[{"role": "user", "content": "Say hi."}],
                        options={"temperature": 0, "num_predict": 4})
    assert reply.message.role == "assistant" and reply.message.content.strip()


def test_without_insecure_a_plain_http_registry_is_refused_in_one_line(registry, client):
    import ollama

    with pytest.raises(ollama.ResponseError) as error:
        client.pull(f"{registry.host}/library/smollm2:135m")
    assert error.value.status_code == 400 and "--insecure" in error.value.error
    assert "\n" not in error.value.error


def test_a_missing_tag_is_a_clear_error_and_nothing_is_listed(registry, client):
    import ollama

    with pytest.raises(ollama.ResponseError, match='has no tag "7b" of library/smollm2') as error:
        client.pull(f"{registry.host}/library/smollm2:7b", insecure=True)
    assert error.value.status_code == 404
    assert f"{registry.host}/library/smollm2:7b" not in [m.model for m in client.list().models]


def test_create_with_quantize_writes_a_new_model_in_that_type(client):
    events = list(client.create("smol-q8", from_="smollm2:135m", quantize="q8_0", stream=True))
    assert any(e.status == "quantizing Q4_1 model to Q8_0" for e in events) and events[-1].status == "success"
    assert client.show("smol-q8").details.quantization_level == "Q8_0"
    assert client.show("smollm2:135m").details.quantization_level == "Q4_1"


def test_create_with_an_unknown_quantization_is_a_400(client):
    import ollama

    with pytest.raises(ollama.ResponseError) as error:
        client.create("smol-bad", from_="smollm2:135m", quantize="q9_9")
    assert error.value.status_code == 400 and "choose one of" in error.value.error


async def test_ember_host_passes_insecure_and_quantize_on_to_the_server(registry, served):
    from ember.backend.remote.ollama_backend import RemoteBackend

    remote = RemoteBackend(served)
    try:
        name = f"{registry.host}/someone/tiny:q4"
        events = [e async for e in remote.pull(name, insecure=True)]
        assert events[-1].status == "success" and name in [m.name for m in await remote.list_models()]
        events = [e async for e in remote.create("tiny-q4-0", f"FROM {name}\n", quantize="q4_0")]
        assert any(e.status == "quantizing Q4_1 model to Q4_0" for e in events)
        assert (await remote.show("tiny-q4-0")).details.quantization_level == "Q4_0"
    finally:
        await remote.close()
