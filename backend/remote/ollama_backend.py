"""RemoteBackend: the Backend interface over HTTP to any Ollama-compatible server (`ember serve`, Ollama).

Streams are NDJSON read line by line; closing one closes its connection, which cancels the
generation on the server.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pydantic
from ember.backend.asyncbridge import run_blocking
from ember.backend.digests import hash_file
from ember.backend.errors import EmberError, NotSupported, RemoteError
from ember.backend.remote.address import server_url
from ember.backend.remote.clock import StreamClock
from ember.backend.remote.transport import RETRIES, Transport, bearer, env_timeout
from ember.backend.service import Backend
from ember.backend.types import (
    ChatRequest,
    Chunk,
    Embeddings,
    GenerateRequest,
    Message,
    ModelDetails,
    ModelInfo,
    ModelSummary,
    PullProgress,
    RunningModel,
    Timings,
)
from ember.backend.wire import ollama

M = TypeVar("M", bound=pydantic.BaseModel)


def server_answers(address: str, api_key: str = "", timeout: float = 0.5) -> bool:
    """Whether an Ollama-compatible server answers at `address` (what the CLI checks for EMBER_HOST)."""
    try:
        response = httpx.get(server_url(address) + "/api/version", timeout=timeout, headers=bearer(api_key))
    except (httpx.HTTPError, EmberError):
        return False
    return response.status_code == 200


def _unix(text: str | None) -> float:
    """Ollama's RFC 3339 times (nanosecond precision) as unix seconds; 0 when absent."""
    if not text:
        return 0.0
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def _details(data: ollama.Details | None) -> ModelDetails:
    data = data or ollama.Details()
    return ModelDetails(format=data.format or "gguf", family=data.family, families=list(data.families or []),
                        parameter_size=data.parameter_size, quantization_level=data.quantization_level,
                        parent_model=data.parent_model)


def _parameters(text: str) -> dict[str, Any]:
    """Ollama's `parameters` text (`name value` lines) as a dict; repeated names become lists."""
    result: dict[str, Any] = {}
    for line in (text or "").splitlines():
        name, _, raw = line.strip().partition(" ")
        if not name:
            continue
        try:
            value: Any = json.loads(raw.strip())
        except ValueError:
            value = raw.strip()
        if name in result:
            previous = result[name]
            result[name] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            result[name] = value
    return result


def _message(m: Message) -> dict[str, Any]:
    data: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.images:
        data["images"] = m.images
    if m.tool_calls:
        data["tool_calls"] = m.tool_calls
    if m.tool_name:
        data["tool_name"] = m.tool_name
    if m.thinking:
        data["thinking"] = m.thinking
    return data


def _text_of(line: pydantic.BaseModel) -> str:
    if isinstance(line, ollama.ChatResponse):
        return line.message.content
    return line.response if isinstance(line, ollama.GenerateResponse) else ""


def _timings(line: ollama.Metrics) -> Timings:
    return Timings(total_duration=line.total_duration or 0, load_duration=line.load_duration or 0,
                   prompt_eval_count=line.prompt_eval_count or 0,
                   prompt_eval_duration=line.prompt_eval_duration or 0,
                   prompt_eval_cached_count=line.prompt_eval_cached_count or 0, eval_count=line.eval_count or 0,
                   eval_duration=line.eval_duration or 0)


def _chunk(line: ollama.ChatResponse | ollama.GenerateResponse, clock: StreamClock) -> Chunk:
    timings = clock.with_server(_timings(line)) if line.done else None
    calls = line.message.tool_calls if isinstance(line, ollama.ChatResponse) else None
    return Chunk(_text_of(line), done=line.done, done_reason=line.done_reason or "", timings=timings,
                 context=line.context if isinstance(line, ollama.GenerateResponse) else None,
                 tool_calls=[call.model_dump(exclude_none=True) for call in calls or []],
                 thinking=_thinking_of(line))


def _thinking_of(line: ollama.ChatResponse | ollama.GenerateResponse) -> str:
    if isinstance(line, ollama.ChatResponse):
        return line.message.thinking or ""
    return line.thinking or ""


class RemoteBackend(Backend):
    def __init__(self, url: str, api_key: str = "", *, timeout: float | None = None, retries: int = RETRIES,
                 label: str = "") -> None:
        self.url = server_url(url)
        self.transport = Transport(self.url, api_key, timeout=env_timeout() if timeout is None else timeout,
                                   retries=retries, label=label or self.url, kind="Ollama-compatible")

    @property
    def client(self) -> httpx.AsyncClient:
        return self.transport.client

    # transport ------------------------------------------------------------------------------

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
                    model: str | None = None) -> httpx.Response:
        return await self.transport.call(method, path, body, model)

    async def _stream(self, path: str, body: dict[str, Any], model: str | None, shape: type[M],
                      clock: StreamClock | None = None) -> AsyncIterator[M]:
        started = done = False
        async with self.transport.stream(path, {**body, "stream": True}, model) as response:
            try:
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        data = json.loads(line)
                    except ValueError:
                        raise RemoteError(f"{self.transport.where} sent a line that is not JSON: {line[:80]!r} "
                                          "— is it an Ollama-compatible server? Try --api openai") from None
                    if isinstance(data, dict) and "error" in data:
                        raise EmberError(f"{self.transport.where}: {data['error']}")
                    parsed = self.transport.read(shape, data, path)
                    if clock is not None:
                        clock.text(_text_of(parsed))
                    started = True
                    done = bool(getattr(parsed, "done", False)) or done
                    yield parsed
            except httpx.HTTPError as exc:
                raise self.transport.read_error(exc, started) from None
        if not done and path in ("/api/chat", "/api/generate"):
            raise self.transport.broken(EOFError("the answer ended without its last line"), started)

    # models ---------------------------------------------------------------------------------

    async def list_models(self) -> list[ModelSummary]:
        tags = await self.transport.fetch(ollama.TagsResponse, "GET", "/api/tags")
        return [ModelSummary(m.name or m.model, "sha256:" + m.digest.removeprefix("sha256:"), m.size,
                             _unix(m.modified_at), _details(m.details)) for m in tags.models]

    async def show(self, name: str) -> ModelInfo:
        shown = await self.transport.fetch(ollama.ShowResponse, "POST", "/api/show", {"model": name}, model=name)
        return ModelInfo(
            name=name, details=_details(shown.details), model_info=shown.model_info,
            parameters=_parameters(shown.parameters), template=shown.template, system=shown.system,
            license=shown.license,
            messages=[Message(m.get("role", "user"), m.get("content", "")) for m in shown.messages or []],
            modelfile=shown.modelfile, modified_at=_unix(shown.modified_at), capabilities=shown.capabilities,
            projector_info=shown.projector_info or {},
        )

    async def create(self, name: str, modelfile: str, *, base_dir: str | None = None,
                     quantize: str | None = None) -> AsyncIterator[PullProgress]:
        upload = _file_to_upload(modelfile, base_dir)
        uploaded = None
        if upload is not None:  # a GGUF on this machine: the server gets it through /api/blobs first
            yield PullProgress(f"hashing {upload.name}")
            uploaded = "sha256:" + await run_blocking(hash_file, upload)
            if not await self.has_blob(uploaded):
                yield PullProgress(f"uploading {upload.name}", total=upload.stat().st_size)
                await self.add_blob(uploaded, _read_chunks(upload))
        body = create_body(name, modelfile, uploaded)
        if quantize:
            body["quantize"] = quantize
        async for line in self._stream("/api/create", body, None, ollama.ProgressResponse):
            yield _progress(line)

    async def has_blob(self, digest: str) -> bool:
        return await self.transport.exists(f"/api/blobs/{digest}")

    async def add_blob(self, digest: str, data: AsyncIterator[bytes]) -> None:
        await self.transport.upload(f"/api/blobs/{digest}", data)

    async def copy(self, source: str, destination: str) -> None:
        await self._call("POST", "/api/copy", {"source": source, "destination": destination}, model=source)

    async def delete(self, name: str) -> None:
        await self._call("DELETE", "/api/delete", {"model": name}, model=name)

    async def pull(self, name: str, *, over_api: bool = False, insecure: bool = False) -> AsyncIterator[PullProgress]:
        body: dict[str, Any] = {"model": name, **({"insecure": True} if insecure else {})}
        async for line in self._stream("/api/pull", body, None, ollama.ProgressResponse):
            yield _progress(line)

    # inference ------------------------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        body: dict[str, Any] = {"model": request.model, "messages": [_message(m) for m in request.messages],
                                "options": request.options}
        for key in ("format", "tools", "keep_alive", "think"):
            if getattr(request, key) is not None:
                body[key] = getattr(request, key)
        if not request.truncate:
            body["truncate"] = False
        clock = StreamClock()
        async for line in self._stream("/api/chat", body, request.model, ollama.ChatResponse, clock):
            yield _chunk(line, clock)

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        if request.score_prompt:
            raise NotSupported(f"{self.transport.where} does not score prompts (echo with logprobs): ask a model "
                                 "this ember runs itself")
        body: dict[str, Any] = {"model": request.model, "prompt": request.prompt, "raw": request.raw,
                                "options": request.options}
        for key in ("system", "template", "context", "format", "keep_alive", "think"):
            if getattr(request, key) is not None:
                body[key] = getattr(request, key)
        if request.suffix:
            body["suffix"] = request.suffix
        if request.images:
            body["images"] = request.images
        if not request.truncate:
            body["truncate"] = False
        clock = StreamClock()
        async for line in self._stream("/api/generate", body, request.model, ollama.GenerateResponse, clock):
            yield _chunk(line, clock)

    async def embed(self, model: str, inputs: list[str], *, truncate: bool = True) -> list[list[float]]:
        return (await self.embed_with_count(model, inputs, truncate=truncate)).vectors

    async def embed_with_count(self, model: str, inputs: list[str], *, truncate: bool = True) -> Embeddings:
        body = {"model": model, "input": inputs, "truncate": truncate}
        data = await self.transport.fetch(ollama.EmbedResponse, "POST", "/api/embed", body, model=model)
        return Embeddings(data.embeddings, data.prompt_eval_count)

    async def running(self) -> list[RunningModel]:
        ps = await self.transport.fetch(ollama.PsResponse, "GET", "/api/ps")
        return [RunningModel(m.name, m.digest, m.size, m.size_vram, _unix(m.expires_at), m.context_length,
                             _details(m.details)) for m in ps.models]

    async def load(self, name: str, keep_alive: str | float | None = None) -> None:
        body: dict[str, Any] = {"model": name, "stream": False}
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        await self._call("POST", "/api/generate", body, model=name)

    async def unload(self, name: str) -> None:
        await self._call("POST", "/api/generate", {"model": name, "keep_alive": 0, "stream": False}, model=name)

    async def close(self) -> None:
        await self.transport.close()


def _progress(line: ollama.ProgressResponse) -> PullProgress:
    return PullProgress(line.status, line.digest or "", line.total or 0, line.completed or 0)


def create_body(name: str, modelfile: str, uploaded: str | None = None) -> dict[str, Any]:
    """/api/create's JSON for a Modelfile: the fields Ollama reads since 0.5.5 (`from` or `files`, `system`,
    …), and the Modelfile itself for servers older than that. The server builds from its own models and
    from what was uploaded to it (`uploaded`, the digest of the GGUF the FROM line names)."""
    from ember.backend.models.modelfile import names_a_file, parse_modelfile

    parsed = parse_modelfile(modelfile)
    if (names_a_file(parsed.base) and uploaded is None) or parsed.adapters:
        what = f"ADAPTER {parsed.adapters[0]}" if parsed.adapters else f"FROM {parsed.base}"
        raise EmberError(f"{what} names a file on this machine, which the server cannot read: build FROM a "
                         "model the server has (ember --host … list), or run ember create on the server")
    body: dict[str, Any] = {"model": name, "modelfile": modelfile, "from": parsed.base}
    if uploaded is not None:
        del body["from"]
        body["files"] = {Path(parsed.base).name: uploaded}
        line = parsed.lines.get("FROM", 0)
        lines = modelfile.splitlines()
        if 0 < line <= len(lines):  # older servers read the upload as FROM @sha256:…
            lines[line - 1] = f"FROM @{uploaded}"
            body["modelfile"] = "\n".join(lines) + "\n"
    if parsed.template is not None:
        body["template"] = parsed.template
    if parsed.system is not None:
        body["system"] = parsed.system
    if parsed.parameters:
        body["parameters"] = {k: list(v) if isinstance(v, tuple) else v for k, v in parsed.parameters.items()}
    if parsed.messages:
        body["messages"] = [{"role": m.role, "content": m.content} for m in parsed.messages]
    if parsed.license:
        body["license"] = list(parsed.license)
    return body


def _file_to_upload(modelfile: str, base_dir: str | None) -> Path | None:
    """The GGUF file a Modelfile's FROM names on this machine, if it names one."""
    from ember.backend.models.modelfile import names_a_file, parse_modelfile

    parsed = parse_modelfile(modelfile)
    if base_dir is None or not names_a_file(parsed.base):
        return None
    path = Path(parsed.base).expanduser()
    path = path if path.is_absolute() else Path(base_dir) / path
    if not path.is_file():
        raise EmberError(f"FROM {parsed.base}: no such file (looked for {path})")
    return path


async def _read_chunks(path: Path, size: int = 1 << 20) -> AsyncIterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := await run_blocking(fh.read, size):
            yield chunk
