"""A local server speaking the Hugging Face Hub's protocol, as huggingface-hub uses it.

- `GET /api/models/{repo}[/revision/{rev}][?blobs=true]`: model info, siblings with size, blobId and
  the LFS sha256 (as `HfApi.model_info(files_metadata=True)` asks).
- `HEAD|GET /{repo}/resolve/{rev}/{path}`: LFS files answer 302 to a second origin (the "CDN") with
  X-Repo-Commit, X-Linked-Etag, X-Linked-Size and ETag, as the Hub does; small files answer 200.
- The CDN serves blobs with `Range` (206 + Content-Range), and can misbehave on demand: cut a
  transfer halfway, flip a byte, or go slowly.
Errors carry the Hub's X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound), so
huggingface-hub raises the same exceptions it raises against the real Hub.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.rangeserver import Mishap, ServedFile, send, serve_file, serve_in_thread

TOKEN = "hf_ember_test_token"
COMMIT = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"


@dataclass
class HubFile(ServedFile):
    lfs: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        raw = self.data if isinstance(self.data, bytes) else self.sha256.encode()
        self.oid = hashlib.sha1(f"blob {self.size}\0".encode() + raw).hexdigest()


@dataclass
class HubRepo:
    files: dict[str, HubFile]
    private: bool = False
    commit: str = COMMIT


@dataclass
class Faults:
    cut_after: int | None = None  # close the next blob transfer after this many bytes
    corrupt: bool = False  # flip one byte in every blob served
    rate: float = 0.0  # bytes per second; 0 = as fast as possible
    down: bool = False  # refuse every request with 503


@dataclass
class Seen:
    method: str
    path: str
    range: str | None
    authorization: str | None


@dataclass
class HubServer:
    repos: dict[str, HubRepo]
    files: dict[str, HubFile] = field(default_factory=dict)  # plain URLs: /files/{name}
    faults: Faults = field(default_factory=Faults)
    seen: list[Seen] = field(default_factory=list)

    def start(self) -> HubServer:
        self._hub = serve_in_thread(_handler(self, cdn=False))
        self._cdn = serve_in_thread(_handler(self, cdn=True))
        return self

    def stop(self) -> None:
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def blob(self, sha256: str) -> HubFile | None:
        for repo in self.repos.values():
            for f in repo.files.values():
                if f.sha256 == sha256:
                    return f
        return None

    def ranges(self) -> list[str]:
        return [s.range for s in self.seen if s.range and s.path.startswith("/blobs/")]


def _handler(hub: HubServer, *, cdn: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            hub.seen.append(Seen(self.command, self.path, self.headers.get("Range"),
                                 self.headers.get("Authorization")))
            if hub.faults.down:
                return self._error(503, "ServiceUnavailable", body)
            parts = urlsplit(self.path)
            if cdn:
                return self._cdn(parts.path, body)
            if parts.path.startswith("/api/models/"):
                return self._info(parts.path[len("/api/models/"):], parse_qs(parts.query), body)
            segments = parts.path.strip("/").split("/")
            if len(segments) >= 5 and segments[2] == "resolve":
                return self._resolve("/".join(segments[:2]), segments[3], "/".join(segments[4:]), body)
            self._error(404, "", body)

        # the Hub -------------------------------------------------------------------------

        def _repo(self, repo_id: str, body: bool) -> HubRepo | None:
            repo = hub.repos.get(repo_id)
            if repo is None or (repo.private and self.headers.get("Authorization") != f"Bearer {TOKEN}"):
                # the Hub answers 401 for both a missing repo and a private one without a token
                self._error(401, "RepoNotFound", body, "Repository not found")
                return None
            return repo

        def _info(self, rest: str, query: dict[str, list[str]], body: bool) -> None:
            repo_id, _, revision = rest.partition("/revision/")
            repo = self._repo(repo_id, body)
            if repo is None:
                return
            if revision and revision not in ("main", repo.commit):
                return self._error(404, "RevisionNotFound", body)
            blobs = query.get("blobs", ["false"])[0].lower() == "true"
            siblings = []
            for path, f in sorted(repo.files.items()):
                entry: dict[str, object] = {"rfilename": path}
                if blobs:
                    entry.update(size=f.size, blobId=f.oid)
                    if f.lfs:
                        entry["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": 134}
                siblings.append(entry)
            info = {"_id": hashlib.md5(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id,
                    "author": repo_id.split("/")[0], "sha": repo.commit, "lastModified": "2025-01-01T00:00:00.000Z",
                    "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
                    "library_name": "gguf", "tags": ["gguf"], "siblings": siblings,
                    "createdAt": "2025-01-01T00:00:00.000Z", "usedStorage": sum(f.size for f in repo.files.values())}
            self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, body)

        def _resolve(self, repo_id: str, revision: str, path: str, body: bool) -> None:
            repo = self._repo(repo_id, body)
            if repo is None:
                return
            if revision not in ("main", repo.commit):
                return self._error(404, "RevisionNotFound", body)
            f = repo.files.get(path)
            if f is None:
                return self._error(404, "EntryNotFound", body, extra={"X-Repo-Commit": repo.commit})
            common = {"X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes"}
            if f.lfs:
                location = f"{hub.cdn}/blobs/{f.sha256}?X-Amz-Signature=test&response-content-disposition=attachment"
                headers = {**common, "Location": location, "ETag": f'"{f.sha256}"',
                           "X-Linked-Etag": f'"{f.sha256}"', "X-Linked-Size": str(f.size)}
                self._send(302, f"Found. Redirecting to {location}".encode(), headers, body)
            else:
                self._send(200, f.read(0, f.size), {**common, "ETag": f'"{f.oid}"'}, body)

        # the CDN -------------------------------------------------------------------------

        def _cdn(self, path: str, body: bool) -> None:
            if path.startswith("/blobs/"):
                f = hub.blob(path[len("/blobs/"):])
            elif path.startswith("/files/"):
                f = hub.files.get(path[len("/files/"):])
            else:
                f = None
            if f is None:
                return self._error(404, "", body)
            faults = hub.faults
            mishap = Mishap(cut_after=faults.cut_after, flip_at=f.size // 2 if faults.corrupt else None,
                            rate=faults.rate)
            if body:
                faults.cut_after = None  # a cut is for the next transfer, which a HEAD is not
            serve_file(self, f, body, {"ETag": f'"{f.sha256}"'}, mishap)

        # plumbing ------------------------------------------------------------------------

        def _error(self, status: int, code: str, body: bool, message: str = "",
                   extra: dict[str, str] | None = None) -> None:
            headers = dict(extra or {})
            if code:
                headers["X-Error-Code"] = code
            if message:
                headers["X-Error-Message"] = message
            payload = json.dumps({"error": message or code or "Not Found"}).encode()
            self._send(status, payload, {**headers, "Content-Type": "application/json"}, body)

        def _send(self, status: int, payload: bytes, headers: dict[str, str], body: bool) -> None:
            send(self, status, payload, headers, body)

    return Handler


# the files it serves: the real SmolLM2 GGUF, a Q4_0 requantisation of it, and a split copy ---------

_BUILT: dict[Path, dict[str, Path]] = {}


def fixture_files(folder: Path, smollm2: Path) -> dict[str, Path]:
    """Build (once per process) a Q4_0 copy and a three-part split copy of the real model."""
    if folder in _BUILT:
        return _BUILT[folder]
    folder.mkdir(parents=True, exist_ok=True)
    q4_0 = folder / "SmolLM2-135M-Instruct-Q4_0.gguf"
    if not q4_0.exists():
        _quantize(smollm2, q4_0)
    split_dir = folder / "split"
    if not split_dir.exists():
        _split(smollm2, split_dir / "SmolLM2-135M-Instruct-Q4_1.gguf")
    files = {"q4_1": smollm2, "q4_0": q4_0}
    for i, part in enumerate(sorted(split_dir.glob("*.gguf")), 1):
        files[f"split{i}"] = part
    _BUILT[folder] = files
    return files


def _quantize(source: Path, target: Path) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
    params.allow_requantize = True
    params.nthread = 2
    if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params)) != 0:
        raise RuntimeError(f"could not quantise {source}")


def _split(source: Path, first: Path) -> None:
    """Write `source` as GGUF parts `first-0000i-of-00003.gguf`, as llama.cpp's gguf-split does."""
    import gguf

    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(first, str(reader.fields["general.architecture"].contents()),
                             split_max_size=40_000_000)
    for item in reader.fields.values():
        if item.name == gguf.Keys.General.ARCHITECTURE or item.name.startswith("GGUF."):
            continue
        kind = item.types[0]
        writer.add_key_value(item.name, item.contents(), kind,
                             sub_type=item.types[-1] if kind == gguf.GGUFValueType.ARRAY else None)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
    first.parent.mkdir(parents=True, exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def standard_hub(files: dict[str, Path]) -> HubServer:
    """The repositories the tests pull from."""
    readme = HubFile(b"# SmolLM2 135M Instruct, GGUF\n", lfs=False)
    splits = {f"SmolLM2-135M-Instruct-Q4_1-0000{i}-of-00003.gguf": HubFile(files[f"split{i}"], lfs=True)
              for i in (1, 2, 3)}
    q4_1 = HubFile(files["q4_1"], lfs=True)
    repos = {
        "ember-test/SmolLM2-135M-Instruct-GGUF": HubRepo({
            "README.md": readme,
            "SmolLM2-135M-Instruct-Q4_0.gguf": HubFile(files["q4_0"], lfs=True),
            "SmolLM2-135M-Instruct-Q4_1.gguf": q4_1,
        }),
        "ember-test/SmolLM2-135M-Instruct-split-GGUF": HubRepo({"README.md": readme, **splits}),
        "ember-test/SmolLM2-135M-Instruct": HubRepo({"README.md": readme,
                                                     "config.json": HubFile(b"{}", lfs=False)}),
        "ember-test/private-GGUF": HubRepo({"SmolLM2-135M-Instruct-Q4_1.gguf": q4_1}, private=True),
    }
    return HubServer(repos, files={"SmolLM2-135M-Instruct-Q4_1.gguf": q4_1,
                                   "not-a-model.gguf": HubFile(b"<html>Not a model</html>" * 100, lfs=True)})
