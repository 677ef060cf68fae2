"""Creating a model from a GGUF over the API, as the official client does it: upload the file to
/api/blobs/<digest>, then /api/create with `files`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import ollama
import pytest

from tests.api.conftest import MODEL

pytestmark = pytest.mark.timeout(120)


def digest_of(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_official_client_uploads_a_gguf_and_creates_a_model_from_it(server: str, smollm2_gguf: Path,
                                                                         tmp_path: Path) -> None:
    gguf = tmp_path / "smollm2-padded.gguf"  # the same model in a file the store does not hold yet
    gguf.write_bytes(smollm2_gguf.read_bytes() + b"\0" * 64)
    client = ollama.Client(host=server)
    assert httpx.head(f"{server}/api/blobs/{digest_of(gguf)}").status_code == 404
    digest = client.create_blob(gguf)  # HEAD, then the upload
    assert digest == digest_of(gguf)
    assert httpx.head(f"{server}/api/blobs/{digest}").status_code == 200
    client.create(model="uploaded:test", files={"smollm2.gguf": digest}, system="You are terse.",
                  parameters={"temperature": 0.1})
    shown = client.show("uploaded:test")
    assert shown.details.family == "llama" and "You are terse." in (shown.modelfile or "")
    answer = client.generate("uploaded:test", "Hi", options={"num_predict": 4, "temperature": 0})
    assert answer.done
    client.delete("uploaded:test")
    assert MODEL in [m.model for m in client.list().models]


def test_an_upload_whose_content_is_not_its_digest_is_refused_and_leaves_nothing(server: str,
                                                                                   models_dir: Path) -> None:
    wrong = "sha256:" + "0" * 64
    response = httpx.post(f"{server}/api/blobs/{wrong}", content=b"not the file that digest names")
    assert response.status_code == 400 and "sha256" in response.json()["error"]
    assert httpx.head(f"{server}/api/blobs/{wrong}").status_code == 404
    assert not [p for p in (models_dir / "blobs").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("digest", ["sha256:../../etc/passwd", "md5:abc", "sha256-" + "g" * 64])
def test_a_digest_that_is_not_one_is_refused(server: str, digest: str) -> None:
    assert httpx.post(f"{server}/api/blobs/{digest}", content=b"x").status_code in (400, 404)
    assert httpx.head(f"{server}/api/blobs/{digest}").status_code in (400, 404)


def test_create_from_a_blob_the_server_lacks_says_to_upload_it(server: str) -> None:
    missing = "sha256:" + "1" * 64
    response = httpx.post(f"{server}/api/create", json={"model": "nothing:here", "stream": False,
                                                       "files": {"model.gguf": missing}})
    assert response.status_code == 400 and "upload it first" in response.json()["error"]
    response = httpx.post(f"{server}/api/create", json={"model": "nothing:here", "stream": False,
                                                       "files": {"model.gguf": "sha256:x\nADAPTER /etc/x"}})
    assert response.status_code == 400
