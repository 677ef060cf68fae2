"""A local server speaking Ollama's registry protocol, as Ollama's client uses it.

- `GET|HEAD /v2/{namespace}/{model}/manifests/{tag}`: a Docker manifest v2 whose layers carry Ollama's
  media types (model, template, params, system, license, messages, adapter, projector); an unknown
  model or tag answers 404 with the Docker error `MANIFEST_UNKNOWN`, as registry.ollama.ai does.
- `GET|HEAD /v2/{namespace}/{model}/blobs/sha256:…`: 307 to a second origin (the blob host, a signed
  URL as Ollama's registry hands out), which serves the bytes with `Range` (206 + Content-Range).
- With `token` set, the registry wants it as a bearer token, and answers 401 with a Docker
  `WWW-Authenticate: Bearer realm=…/token,service=…,scope=repository:…:pull` challenge otherwise;
  `GET /token?service=…&scope=…` hands it out anonymously, as Docker's token server does.
- The blob host misbehaves on demand: cut a transfer after some bytes (once, or every time), serve
  bytes that do not match the digest, or the whole registry goes down (503).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from tests.rangeserver import Mishap, ServedFile, send, serve_file, serve_in_thread

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG = "application/vnd.docker.container.image.v1+json"
MODEL = "application/vnd.ollama.image.model"
TEMPLATE = "application/vnd.ollama.image.template"
PARAMS = "application/vnd.ollama.image.params"
SYSTEM = "application/vnd.ollama.image.system"
LICENSE = "application/vnd.ollama.image.license"
MESSAGES = "application/vnd.ollama.image.messages"
ADAPTER = "application/vnd.ollama.image.adapter"
PROJECTOR = "application/vnd.ollama.image.projector"


class Blob(ServedFile):
    @property
    def digest(self) -> str:
        return f"sha256:{self.sha256}"


@dataclass
class RegistryModel:
    layers: list[tuple[str, Blob]]  # (media type, blob), in the manifest's order
    config: Blob = field(default_factory=lambda: Blob(b"{}"))

    def manifest(self) -> bytes:
        def entry(media_type: str, blob: Blob) -> dict[str, object]:
            return {"mediaType": media_type, "digest": blob.digest, "size": blob.size}

        return json.dumps({"schemaVersion": 2, "mediaType": MANIFEST, "config": entry(CONFIG, self.config),
                           "layers": [entry(t, b) for t, b in self.layers]}).encode()


@dataclass
class Faults:
    cut_after: int | None = None  # end a blob transfer after this many bytes
    cut_always: bool = False  # cut every transfer (else only the next one)
    wrong_digest: bool = False  # serve bytes that differ from the digest asked for
    down: bool = False  # answer 503 to everything


@dataclass
class Seen:
    method: str
    path: str
    range: str | None
    blob_host: bool
    authorization: str | None = None


@dataclass
class RegistryServer:
    models: dict[str, RegistryModel]  # "namespace/model:tag"
    faults: Faults = field(default_factory=Faults)
    seen: list[Seen] = field(default_factory=list)
    token: str | None = None  # when set, manifests and blobs need it

    def start(self) -> RegistryServer:
        self._registry = serve_in_thread(_handler(self, blob_host=False))
        self._blobs = serve_in_thread(_handler(self, blob_host=True))
        return self

    def stop(self) -> None:
        for server in (self._registry, self._blobs):
            server.shutdown()
            server.server_close()

    @property
    def host(self) -> str:
        """The registry's host:port, as a model name's host part."""
        return f"127.0.0.1:{self._registry.server_address[1]}"

    @property
    def blob_host(self) -> str:
        return f"http://127.0.0.1:{self._blobs.server_address[1]}"

    def blob(self, sha256: str) -> Blob | None:
        for model in self.models.values():
            for blob in (model.config, *(b for _, b in model.layers)):
                if blob.sha256 == sha256:
                    return blob
        return None

    def ranges(self) -> list[str]:
        return [s.range for s in self.seen if s.blob_host and s.range]


def _handler(registry: RegistryServer, *, blob_host: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            path = urlsplit(self.path).path
            registry.seen.append(Seen(self.command, path, self.headers.get("Range"), blob_host,
                                      self.headers.get("Authorization")))
            if registry.faults.down:
                return self._error(503, "UNAVAILABLE", "service unavailable", body)
            if blob_host:
                blob = registry.blob(path.removeprefix("/blobs/sha256-")) if path.startswith("/blobs/") else None
                return self._serve(blob, body) if blob else self._error(404, "BLOB_UNKNOWN", "blob unknown", body)
            segments = path.strip("/").split("/")
            if path == "/token":
                return self._send(200, json.dumps({"token": registry.token}).encode(),
                                  {"Content-Type": "application/json"}, body)
            if registry.token and self.headers.get("Authorization") != f"Bearer {registry.token}":
                scope = f"repository:{'/'.join(segments[1:3])}:pull"
                challenge = f'Bearer realm="http://{registry.host}/token",service="stand-in",scope="{scope}"'
                return self._send(401, json.dumps({"errors": [{"code": "UNAUTHORIZED"}]}).encode(),
                                  {"Content-Type": "application/json", "WWW-Authenticate": challenge}, body)
            if len(segments) == 5 and segments[0] == "v2" and segments[3] == "manifests":
                return self._manifest(f"{segments[1]}/{segments[2]}:{segments[4]}", body)
            if len(segments) == 5 and segments[0] == "v2" and segments[3] == "blobs":
                return self._redirect(segments[4], body)
            self._error(404, "NOT_FOUND", "not found", body)

        def _manifest(self, key: str, body: bool) -> None:
            model = registry.models.get(key)
            if model is None:
                return self._error(404, "MANIFEST_UNKNOWN", "manifest unknown", body)
            raw = model.manifest()
            self._send(200, raw, {"Content-Type": MANIFEST,
                                  "Docker-Content-Digest": "sha256:" + hashlib.sha256(raw).hexdigest()}, body)

        def _redirect(self, digest: str, body: bool) -> None:
            if not digest.startswith("sha256:") or registry.blob(digest[len("sha256:"):]) is None:
                return self._error(404, "BLOB_UNKNOWN", "blob unknown", body)
            location = f"{registry.blob_host}/blobs/sha256-{digest[len('sha256:'):]}?X-Amz-Signature=test"
            self._send(307, b"", {"Location": location}, body)

        def _serve(self, blob: Blob, body: bool) -> None:
            faults = registry.faults
            mishap = Mishap(cut_after=faults.cut_after, flip_at=0 if faults.wrong_digest else None)
            if body and not faults.cut_always:
                faults.cut_after = None  # a cut is for the next transfer, which a HEAD is not
            serve_file(self, blob, body, mishap=mishap)

        def _error(self, status: int, code: str, message: str, body: bool) -> None:
            payload = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
            self._send(status, payload, {"Content-Type": "application/json"}, body)

        def _send(self, status: int, payload: bytes, headers: dict[str, str], body: bool) -> None:
            send(self, status, payload, headers, body)

    return Handler


# what the tests pull: the real SmolLM2 GGUF with the layers Ollama's library ships beside it ------

SMOLLM2_TEMPLATE = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""
SMOLLM2_PARAMS = {"stop": ["<|im_start|>", "<|im_end|>"], "temperature": 0.2}
SMOLLM2_SYSTEM = "You are a helpful assistant from the test registry."
SMOLLM2_LICENSE = "Apache License 2.0 (test copy)"


def _projector_bytes() -> bytes:
    import tempfile

    from tests.visionfixture import write_projector

    with tempfile.TemporaryDirectory() as folder:
        return write_projector(Path(folder) / "mmproj.gguf").read_bytes()


def standard_registry(smollm2: Path) -> RegistryServer:
    """`library/smollm2:135m` (weights, template, params, system, license, messages), `someone/tiny:q4`
    (weights only), `someone/vision` (weights, projector, adapter) and `someone/legacy` (retired options)."""
    weights = Blob(smollm2)
    config = Blob(json.dumps({"model_format": "gguf", "model_family": "llama", "model_families": ["llama"],
                              "model_type": "135M", "file_type": "Q4_1", "architecture": "amd64",
                              "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode())
    full = RegistryModel([
        (MODEL, weights),
        (TEMPLATE, Blob(SMOLLM2_TEMPLATE.encode())),
        (SYSTEM, Blob(SMOLLM2_SYSTEM.encode())),
        (LICENSE, Blob(SMOLLM2_LICENSE.encode())),
        (PARAMS, Blob(json.dumps(SMOLLM2_PARAMS).encode())),
        (MESSAGES, Blob(json.dumps([{"role": "user", "content": "Hi"},
                                    {"role": "assistant", "content": "Hello!"}]).encode())),
    ], config)
    # a projector (the tests' tiny one) and an adapter as Ollama ships them beside the weights
    vision = RegistryModel([(MODEL, weights), (PROJECTOR, Blob(_projector_bytes())),
                            (ADAPTER, Blob(b"GGUF adapter stand-in"))], config)
    return RegistryServer({
        "library/smollm2:135m": full,
        "library/smollm2:latest": full,
        "someone/tiny:q4": RegistryModel([(MODEL, weights)], config),
        "someone/vision:latest": vision,
        # parameters as older library models ship them, with options Ollama has since retired
        "someone/legacy:latest": RegistryModel([(MODEL, weights), (PARAMS, Blob(json.dumps(
            {"num_gqa": 8, "temperature": 0.3}).encode()))], config),
    })
