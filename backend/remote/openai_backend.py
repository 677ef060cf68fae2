"""OpenAIBackend: the Backend interface over an OpenAI-compatible API (vLLM, SGLang, llama.cpp's server,
llama-cpp-python's server, LM Studio, hosted endpoints).

Chat, generate, list and embed work; answers stream as server-sent events. What such an API has
no call for (pull, create, delete, copy, ps, stop) is one line: not supported by this server.
ember's parameters become the request fields the server takes (backend.optionmap); one it would
ignore is reported once through `notify`, not dropped in silence.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from ember.backend.errors import EmberError, NotSupported, RemoteError
from ember.backend.remote.address import openai_base, server_url
from ember.backend.remote.clock import StreamClock
from ember.backend.remote.optionmap import map_options, why_ignored
from ember.backend.remote.transport import RETRIES, RemoteModelNotFound, Transport, env_timeout
from ember.backend.service import Backend
from ember.backend.types import (
    ChatRequest,
    Chunk,
    GenerateRequest,
    Message,
    ModelDetails,
    ModelInfo,
    ModelSummary,
    PullProgress,
    RunningModel,
)
from ember.backend.wire import openai

log = logging.getLogger("ember.remote")
Answer = openai.OAIChatCompletion | openai.OAIChatCompletionChunk | openai.OAICompletion

# what /v1/models says owns the models -> the engine behind it
FLAVOURS = {"vllm": "vllm", "sglang": "sglang", "llamacpp": "llama.cpp", "me": "llama-cpp-python",
            "organization_owner": "lmstudio", "library": "ollama"}


class OpenAIBackend(Backend):
    def __init__(self, url: str, api_key: str = "", *, timeout: float | None = None, retries: int = RETRIES,
                 label: str = "", notify: Callable[[str], None] | None = None) -> None:
        self.url = openai_base(server_url(url))
        self.transport = Transport(self.url, api_key, timeout=env_timeout() if timeout is None else timeout,
                                   retries=retries, label=label or self.url, kind="OpenAI-compatible")
        self.notify: Callable[[str], None] = notify or log.warning
        self.flavour = ""
        self._served: dict[str, openai.OAIModel] | None = None
        self._reported: set[str] = set()

    # what the server has ----------------------------------------------------------------------

    async def served(self, refresh: bool = False) -> dict[str, openai.OAIModel]:
        """The server's models by id (GET /models), fetched once; also tells which engine it is."""
        if self._served is None or refresh:
            listed = await self.transport.fetch(openai.OAIModelList, "GET", "/models")
            self._served = {m.id: m for m in listed.data if m.id}
            owners = {m.owned_by for m in listed.data}
            self.flavour = next((FLAVOURS[o] for o in owners if o in FLAVOURS), "")
        return self._served

    async def _model_id(self, name: str) -> str:
        """The id the server knows `name` by; RemoteModelNotFound when it serves no such model."""
        for refresh in (False, True):
            served = await self.served(refresh)
            for candidate in (name, name.removesuffix(":latest")):
                if candidate in served:
                    return candidate
        raise RemoteModelNotFound(name, self.transport.where, self.transport.list_hint())

    def _not_supported(self, what: str) -> NotSupported:
        return NotSupported(f"{what} is not supported by this server (OpenAI-compatible API) — its operator "
                            f'chooses the models it serves; "{self.transport.list_hint()}" shows them')

    def _report(self, names: list[str]) -> None:
        server = f"{self.transport.where}" + (f" ({self.flavour})" if self.flavour else "")
        for name in names:
            if name not in self._reported:
                self._reported.add(name)
                self.notify(why_ignored(name, server))

    def _fields(self, options: dict[str, Any]) -> dict[str, Any]:
        mapped = map_options(options, self.flavour)
        self._report(mapped.ignored)
        return mapped.fields

    # models ---------------------------------------------------------------------------------

    async def list_models(self) -> list[ModelSummary]:
        return [ModelSummary(name, "", 0, float(entry.created), _details(entry, self.flavour))
                for name, entry in sorted((await self.served(refresh=True)).items())]

    async def show(self, name: str) -> ModelInfo:
        model = await self._model_id(name)
        entry = (await self.served())[model]
        info: dict[str, Any] = {"general.architecture": "", "server.api": "openai", "server.url": self.url}
        if self.flavour:
            info["server.engine"] = self.flavour
        context = entry.max_model_len or (entry.meta or {}).get("n_ctx_train")
        if context:
            info[".context_length"] = context
        return ModelInfo(name=model, details=_details(entry, self.flavour), model_info=info, parameters={},
                         template="", system="", license="", messages=[],
                         modelfile=f"# served by {self.url} (OpenAI-compatible API)\nFROM {model}\n",
                         modified_at=float(entry.created), capabilities=["completion"])

    async def create(self, name: str, modelfile: str, *, base_dir: str | None = None,
                     quantize: str | None = None) -> AsyncIterator[PullProgress]:
        raise self._not_supported("creating models")
        yield PullProgress("")  # an async generator, like every other backend's create

    async def copy(self, source: str, destination: str) -> None:
        raise self._not_supported("copying models")

    async def delete(self, name: str) -> None:
        raise self._not_supported("deleting models")

    async def pull(self, name: str, *, over_api: bool = False, insecure: bool = False) -> AsyncIterator[PullProgress]:
        raise self._not_supported("pulling models")
        yield PullProgress("")

    async def running(self) -> list[RunningModel]:
        raise self._not_supported("listing the loaded models")

    async def load(self, name: str, keep_alive: str | float | None = None) -> None:
        await self._model_id(name)  # the server keeps its models loaded; knowing it serves this one is enough

    async def unload(self, name: str) -> None:
        raise self._not_supported("unloading models")

    # inference ------------------------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        model = await self._model_id(request.model)
        body: dict[str, Any] = {"model": model, "messages": openai_messages(request.messages),
                                **self._fields(request.options)}
        if request.format is not None:
            body["response_format"] = _response_format(request.format)
        if request.tools:
            body["tools"] = request.tools
        async for chunk in self._answer("/chat/completions", body, request.model, openai.OAIChatCompletion,
                                        openai.OAIChatCompletionChunk):
            yield chunk

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        if request.score_prompt:
            raise NotSupported(f"{self.transport.where} does not score prompts (echo with logprobs): ask a model "
                                 "this ember runs itself")
        if not request.prompt and not request.suffix:  # Ollama's way to load a model
            await self.load(request.model)
            yield Chunk("", done=True, done_reason="load")
            return
        unsupported = [n for n, v in (("template", request.template), ("context", request.context)) if v]
        self._report(unsupported)
        if not (request.raw or request.suffix):  # the server's chat template shapes the prompt, as Ollama's does
            messages = ([Message("system", request.system)] if request.system else []) + [Message("user", request.prompt)]
            chat = ChatRequest(request.model, messages, options=request.options, format=request.format)
            async for chunk in self.chat(chat):
                yield chunk
            return
        model = await self._model_id(request.model)
        body: dict[str, Any] = {"model": model, "prompt": request.prompt, **self._fields(request.options)}
        if request.suffix:
            body["suffix"] = request.suffix
        async for chunk in self._answer("/completions", body, request.model, openai.OAICompletion,
                                        openai.OAICompletion):
            yield chunk

    async def _answer(self, path: str, body: dict[str, Any], model: str, whole: type[Answer],
                      event: type[Answer]) -> AsyncIterator[Chunk]:
        """Stream `path`'s answer: server-sent events of the `event` shape, or one JSON body of the `whole`
        shape from a server that does not stream."""
        clock = StreamClock()
        state = _Answer()
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        async with self.transport.stream(path, body, model, headers={"Accept": "text/event-stream"}) as response:
            if "json" in response.headers.get("content-type", ""):  # a server that does not stream
                await response.aread()
                try:
                    data = response.json()
                except ValueError:
                    raise RemoteError(f"{self.transport.where} answered {path} with something that is not "
                                      "JSON — is it an OpenAI-compatible server?") from None
                text = state.take(self.transport.read(whole, data, path))
                clock.text(text)
                if text:
                    yield Chunk(text)
                state.finished = True
            else:
                async for text in self._events(response, state, path, event):
                    clock.text(text)
                    yield Chunk(text)
        prompt, answer = state.usage
        yield Chunk("", done=True, done_reason=state.reason, timings=clock.timings(prompt, answer),
                    tool_calls=state.calls())

    async def _events(self, response: httpx.Response, state: _Answer, path: str,
                      shape: type[Answer]) -> AsyncIterator[str]:
        from httpx_sse import EventSource, SSEError

        try:
            async for event in EventSource(response).aiter_sse():
                if event.data.strip() == "[DONE]":
                    state.finished = True
                    break
                if not event.data.strip():
                    continue
                try:
                    data = json.loads(event.data)
                except ValueError:
                    raise RemoteError(f"{self.transport.where} sent an event that is not JSON: {event.data[:80]!r}") from None
                if isinstance(data, dict) and data.get("error"):
                    error = data["error"]
                    raise EmberError(f"{self.transport.where}: {error.get('message') if isinstance(error, dict) else error}")
                text = state.take(self.transport.read(shape, data, path))
                if text:
                    yield text
        except httpx.HTTPError as exc:
            raise self.transport.read_error(exc, state.started) from None
        except SSEError as exc:
            raise RemoteError(f"{self.transport.where} did not stream server-sent events ({exc}) — "
                              "is it an OpenAI-compatible server? Try --api ollama") from None
        if not state.finished:
            raise self.transport.broken(EOFError("the stream ended before [DONE]"), state.started)

    async def embed(self, model: str, inputs: list[str], *, truncate: bool = True) -> list[list[float]]:
        served = await self._model_id(model)
        vectors = await self._embeddings(served, inputs, model)
        if len(inputs) > 1 and any(v and isinstance(v[0], list) for v in vectors):
            # one vector per token, unpooled: batching such inputs is unreliable on llama-cpp-python's
            # server (rows shift between inputs), so each input is asked for on its own
            vectors = [(await self._embeddings(served, [text], model))[0] for text in inputs]
        return [_normalised(_pooled(v)) for v in vectors]

    async def _embeddings(self, served: str, inputs: list[str], model: str) -> list[list[Any]]:
        listed = await self.transport.fetch(openai.OAIEmbeddingList, "POST", "/embeddings",
                                            {"model": served, "input": inputs}, model=model)
        vectors = []
        for item in sorted(listed.data, key=lambda d: d.index):
            if isinstance(item.embedding, str):
                raise RemoteError(f"{self.transport.where} sent base64 embeddings though ember asked for floats")
            vectors.append(item.embedding)
        return vectors

    async def close(self) -> None:
        await self.transport.close()


class _Answer:
    """What a streamed answer has said so far besides its text: why it ended, usage, tool calls."""

    def __init__(self) -> None:
        self.reason = ""
        self.finished = False
        self.started = False
        self.usage: tuple[int | None, int | None] = (None, None)
        self._calls: dict[int, dict[str, str]] = {}

    def take(self, answer: Answer) -> str:
        """Absorb one event (or a whole non-streamed answer); returns its text."""
        if answer.usage is not None:
            self.usage = (answer.usage.prompt_tokens, answer.usage.completion_tokens)
        text = ""
        for choice in answer.choices:
            if isinstance(choice, openai.OAICompletionChoice):
                text += choice.text
                calls: list[openai.OAIAnswerCall] = []
            else:
                said = choice.delta if isinstance(choice, openai.OAIChunkChoice) else choice.message
                text += said.content or ""
                calls = said.tool_calls or []
            for position, call in enumerate(calls):
                slot = self._calls.setdefault(position if call.index is None else call.index,
                                              {"name": "", "arguments": ""})
                arguments = call.function.arguments
                slot["name"] += call.function.name or ""
                slot["arguments"] += arguments if isinstance(arguments, str) else json.dumps(arguments)
            if choice.finish_reason:
                self.reason = "length" if choice.finish_reason == "length" else "stop"
                self.finished = True
        self.started = self.started or bool(text)
        return text

    def calls(self) -> list[dict[str, Any]]:
        result = []
        for _, call in sorted(self._calls.items()):
            try:
                arguments: Any = json.loads(call["arguments"] or "{}")
            except ValueError:
                arguments = call["arguments"]
            result.append({"function": {"name": call["name"], "arguments": arguments}})
        return result


def _details(entry: openai.OAIModel, flavour: str) -> ModelDetails:
    return ModelDetails(format="", family=flavour or entry.owned_by)


def _response_format(format: str | dict[str, Any]) -> dict[str, Any]:
    if format == "json":
        return {"type": "json_object"}
    if isinstance(format, dict):
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": format}}
    raise EmberError(f'format must be "json" or a JSON schema, got {format!r}')


def openai_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Ollama-shaped messages in OpenAI's shape: images as data URLs, tool calls with ids and JSON arguments."""
    result: list[dict[str, Any]] = []
    pending: list[str] = []  # ids of the last assistant tool calls, answered in order by tool messages
    for number, m in enumerate(messages):
        data: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.images:
            data["content"] = [{"type": "text", "text": m.content}] + [
                {"type": "image_url", "image_url": {"url": f"data:{_image_type(i)};base64,{i}"}} for i in m.images]
        if m.tool_calls:
            pending = [f"call_{number}_{i}" for i in range(len(m.tool_calls))]
            data["tool_calls"] = [
                {"id": call_id, "type": "function",
                 "function": {"name": c.get("function", {}).get("name", ""),
                              "arguments": json.dumps(c.get("function", {}).get("arguments") or {})}}
                for call_id, c in zip(pending, m.tool_calls)]
        if m.role == "tool":
            data["tool_call_id"] = pending.pop(0) if pending else f"call_{number}"
            if m.tool_name:
                data["name"] = m.tool_name
        result.append(data)
    return result


def _image_type(encoded: str) -> str:
    head = encoded[:8]
    return "image/jpeg" if head.startswith("/9j/") else "image/gif" if head.startswith("R0lG") else "image/png"


def _pooled(vector: list[Any]) -> list[float]:
    """One vector per input: servers that return one per token (llama-cpp-python) are mean-pooled."""
    if vector and isinstance(vector[0], list):
        width = len(vector[0])
        return [sum(row[i] for row in vector) / len(vector) for i in range(width)]
    return [float(v) for v in vector]


def _normalised(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector
