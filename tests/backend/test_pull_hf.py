"""Pulling from the Hugging Face Hub (a local server speaking its protocol), https URLs and local files."""

from __future__ import annotations

import hashlib
import shutil
import socket
import time
from pathlib import Path

import pytest
from ember.backend.config import Config
from ember.backend.errors import CorruptBlob, DiskFull, Offline, PullError
from ember.backend.local.local_backend import LocalBackend

from tests.hubserver import TOKEN, HubServer, fixture_files, standard_hub

REPO = "ember-test/SmolLM2-135M-Instruct-GGUF"
SPLIT = "ember-test/SmolLM2-135M-Instruct-split-GGUF"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, smollm2_gguf: Path) -> dict[str, Path]:
    return fixture_files(tmp_path_factory.getbasetemp() / "hub-files", smollm2_gguf)


@pytest.fixture
def hub(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    server = standard_hub(files).start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.stop()


@pytest.fixture
def local(tmp_path: Path) -> LocalBackend:
    return LocalBackend(Config(models=tmp_path / "models"))


async def pull(backend: LocalBackend, name: str) -> list:
    return [event async for event in backend.pull(name)]


async def names(backend: LocalBackend) -> list[str]:
    return [m.name for m in await backend.list_models()]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_pull_by_quant_picks_that_file_case_insensitively_and_streams_progress(hub, local, files):
    # paced to last at least half a second whatever the machine's speed, so progress has steps to show
    hub.faults.rate = files["q4_0"].stat().st_size / 0.5
    events = await pull(local, f"hf.co/{REPO}:q4_0")
    digest = sha256(files["q4_0"])
    statuses = [e.status for e in events]
    assert statuses[0] == "pulling manifest" and statuses[-2:] == ["writing manifest", "success"]
    download = [e for e in events if e.status == f"pulling {digest[:12]}"]
    assert download[-1].completed == download[-1].total == files["q4_0"].stat().st_size
    done = [e.completed for e in download]
    assert done == sorted(done) and done[0] < done[-1]  # monotonic, from the start to the total
    assert any(0 < d < download[-1].total for d in done)  # streamed as it came, not at the end
    assert statuses.index("verifying sha256 digest") < statuses.index("writing manifest")
    assert await names(local) == [f"hf.co/{REPO}:q4_0"]
    info = await local.show(f"hf.co/{REPO}:Q4_0")
    assert info.details.quantization_level == "Q4_0" and "<|im_start|>" in info.template
    assert local.store.has_blob(f"sha256:{digest}")
    auth = [s for s in hub.seen if s.path.startswith("/blobs/")]
    assert auth and all(s.authorization is None for s in auth)  # the token never goes to the CDN


async def test_huggingface_co_names_and_urls_are_the_same_model(hub, local):
    await pull(local, f"huggingface.co/{REPO}:Q4_1")
    assert await names(local) == [f"hf.co/{REPO}:Q4_1"]
    await pull(local, f"https://huggingface.co/{SPLIT}")  # a repo's page address pulls it too
    assert f"hf.co/{SPLIT}:latest" in await names(local)


@pytest.mark.parametrize("tag, wanted", [("Q8_0", "Q8_0"), ("latest", "Q4_K_M")])
async def test_a_quant_that_does_not_exist_lists_the_ones_that_do(hub, local, tag, wanted):
    with pytest.raises(PullError) as error:
        await pull(local, f"hf.co/{REPO}:{tag}")
    message = str(error.value)
    assert f"no {wanted} GGUF" in message and "it has Q4_0, Q4_1" in message and f"hf.co/{REPO}:Q4_0" in message
    assert await names(local) == []
    assert not [s for s in hub.seen if s.path.startswith("/blobs/")]


async def test_a_split_gguf_is_pulled_whole_and_loads_from_its_first_part(hub, local, files):
    await pull(local, f"hf.co/{SPLIT}")
    record = local.record(f"hf.co/{SPLIT}")
    parts = [layer.digest for layer in record.manifest.layers]
    assert parts == [f"sha256:{sha256(files[f'split{i}'])}" for i in (1, 2, 3)]
    assert record.model_path.name == "model-00001-of-00003.gguf"
    assert sha256(record.model_path.with_name("model-00003-of-00003.gguf")) == sha256(files["split3"])
    assert record.meta.parameter_size == "134.52M"  # every part's tensors counted


async def test_a_transfer_cut_halfway_resumes_with_a_range_request(hub, local, files):
    size = files["q4_1"].stat().st_size
    hub.faults.cut_after = size // 2
    await pull(local, f"hf.co/{REPO}:Q4_1")
    resumed_at = [int(r.removeprefix("bytes=").removesuffix("-")) for r in hub.ranges()]
    assert len(resumed_at) == 1 and size // 4 < resumed_at[0] <= size // 2  # not from the start
    assert local.store.has_blob(f"sha256:{sha256(files['q4_1'])}")
    assert await names(local) == [f"hf.co/{REPO}:Q4_1"]


async def test_corrupted_bytes_are_rejected_and_nothing_is_registered(hub, local):
    hub.faults.corrupt = True
    with pytest.raises(CorruptBlob, match="corrupt"):
        await pull(local, f"hf.co/{REPO}:Q4_1")
    assert await names(local) == []
    assert not list(local.store.blobs.glob("sha256-*"))
    assert not list(local.store.blobs.glob(".partial-sha256-*"))  # a bad download is not resumed
    hub.faults.corrupt = False
    await pull(local, f"hf.co/{REPO}:Q4_1")
    assert await names(local) == [f"hf.co/{REPO}:Q4_1"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_offline_fails_fast_and_lists_the_models_already_here(local, smollm2_gguf, monkeypatch, tmp_path):
    await pull(local, str(smollm2_gguf))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    start = time.monotonic()
    with pytest.raises(Offline) as error:
        await pull(local, f"hf.co/{REPO}:Q4_1")
    assert time.monotonic() - start < 10
    assert "offline" in str(error.value) and "smollm2-135m-instruct:q4_1" in str(error.value)
    assert not list(local.store.blobs.glob(".partial-*"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Offline, match="HF_HUB_OFFLINE"):
        await pull(local, f"hf.co/{REPO}:Q4_1")


async def test_unknown_and_private_repos_say_what_to_do(hub, local, monkeypatch):
    with pytest.raises(PullError, match="no model hf.co/ember-test/nope.*HF_TOKEN"):
        await pull(local, "hf.co/ember-test/nope")
    with pytest.raises(PullError, match="HF_TOKEN"):
        await pull(local, "hf.co/ember-test/private-GGUF:Q4_1")
    with pytest.raises(PullError, match="has no GGUF files"):
        await pull(local, "hf.co/ember-test/SmolLM2-135M-Instruct")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    await pull(local, "hf.co/ember-test/private-GGUF:Q4_1")
    assert await names(local) == ["hf.co/ember-test/private-GGUF:Q4_1"]
    hub_calls = [s for s in hub.seen if s.path.startswith("/api/models/ember-test/private")]
    assert hub_calls[-1].authorization == f"Bearer {TOKEN}"


async def test_free_space_is_checked_before_downloading(hub, local, monkeypatch, files):
    real = shutil.disk_usage

    def almost_full(path):  # a nearly full disk cannot be made here; the rest is real
        usage = real(path)
        return usage._replace(free=10 << 20)

    monkeypatch.setattr(shutil, "disk_usage", almost_full)
    with pytest.raises(DiskFull, match="not enough disk space.*pull again"):
        await pull(local, f"hf.co/{REPO}:Q4_1")
    assert not [s for s in hub.seen if s.path.startswith("/blobs/")]
    assert await names(local) == []


async def test_a_file_already_in_the_hugging_face_cache_is_linked_not_downloaded(hub, local, files, tmp_path):
    digest = sha256(files["q4_1"])
    repo_dir = tmp_path / "hf-home" / "hub" / f"models--{REPO.replace('/', '--')}"
    blob = repo_dir / "blobs" / digest
    blob.parent.mkdir(parents=True)
    shutil.copyfile(files["q4_1"], blob)
    snapshot = repo_dir / "snapshots" / hub.repos[REPO].commit / "SmolLM2-135M-Instruct-Q4_1.gguf"
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(blob)
    await pull(local, f"hf.co/{REPO}:Q4_1")
    assert not [s for s in hub.seen if s.path.startswith("/blobs/")]
    assert local.store.blob_path(f"sha256:{digest}").stat().st_ino == blob.stat().st_ino


async def test_an_https_url_to_a_gguf_pulls_and_anything_else_is_refused(hub, local, files):
    await pull(local, f"{hub.cdn}/files/SmolLM2-135M-Instruct-Q4_1.gguf")
    assert await names(local) == ["smollm2-135m-instruct:q4_1"]
    with pytest.raises(PullError, match="did not send a GGUF"):
        await pull(local, f"{hub.cdn}/files/not-a-model.gguf")
    with pytest.raises(PullError, match="is not a .gguf file"):
        await pull(local, f"{hub.cdn}/files/index.html")
    assert not list(local.store.blobs.glob(".partial-*"))


async def test_a_local_path_pulls_without_copying(local, smollm2_gguf, tmp_path):
    await pull(local, str(smollm2_gguf))
    record = local.record("smollm2-135m-instruct:q4_1")
    assert record.model_path.stat().st_ino == smollm2_gguf.stat().st_ino
    with pytest.raises(PullError, match="no file at"):
        await pull(local, str(tmp_path / "missing.gguf"))


@pytest.mark.parametrize("name", ["hf.co/../../etc:x", "hf.co/user/re po", "hf.co/a/b/c"])
async def test_names_that_escape_or_name_no_source_are_one_line_errors(local, name):
    with pytest.raises(PullError.__mro__[1]) as error:
        await pull(local, name)
    assert "\n" not in str(error.value)


def test_the_server_speaks_what_huggingface_hub_expects(hub: HubServer):
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url

    info = HfApi(endpoint=hub.url).model_info(REPO, files_metadata=True)
    gguf = {s.rfilename: s for s in info.siblings}["SmolLM2-135M-Instruct-Q4_1.gguf"]
    assert gguf.lfs.sha256 and gguf.lfs.size == gguf.size
    meta = get_hf_file_metadata(hf_hub_url(REPO, gguf.rfilename, endpoint=hub.url), endpoint=hub.url)
    assert meta.commit_hash == info.sha and meta.etag == gguf.lfs.sha256 and meta.size == gguf.size
    assert meta.location.startswith(hub.cdn)


async def test_an_mmproj_beside_the_weights_is_pulled_as_the_projector(files, projector_gguf, monkeypatch,
                                                                      tmp_path, local):
    from tests.hubserver import HubFile, HubRepo

    q4_1 = HubFile(files["q4_1"], lfs=True)
    repo = HubRepo({"SmolLM2-135M-Instruct-Q4_1.gguf": q4_1,
                    "mmproj-SmolLM2-135M-Q8_0.gguf": HubFile(projector_gguf, lfs=True),
                    "mmproj-SmolLM2-135M-F16.gguf": HubFile(projector_gguf.read_bytes() + b"", lfs=True),
                    "other/mmproj-elsewhere-F16.gguf": HubFile(b"GGUF" + b"\0" * 60, lfs=True)})
    server = HubServer({"ember-test/vision-GGUF": repo}).start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    try:
        await pull(local, "hf.co/ember-test/vision-GGUF:Q4_1")
    finally:
        server.stop()
    info = await local.show("hf.co/ember-test/vision-GGUF:Q4_1")
    assert "vision" in info.capabilities and info.projector_info["general.architecture"] == "clip"
    record = local.record("hf.co/ember-test/vision-GGUF:Q4_1")
    assert record.projector is not None and record.projector.name == f"sha256-{sha256(projector_gguf)}"
    assert [p for p in (s.path for s in server.seen) if "mmproj" in p and "Q8_0" in p] == []  # F16 is preferred
