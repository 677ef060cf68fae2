"""Between the API's bodies and the Backend's types: requests in, chunks and descriptions out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

from ember.backend.api.streaming import timestamp
from ember.backend.errors import InvalidName, InvalidRequest
from ember.backend.store.names import parse_digest
from ember.backend.types import (
    ChatRequest,
    Chunk,
    GenerateRequest,
    Message,
    ModelDetails,
    ModelInfo,
    ModelSummary,
    RunningModel,
    Timings,
)
from ember.backend.wire import ollama


def chat_request(body: ollama.ChatRequest) -> ChatRequest:
    return ChatRequest(
        model=body.model,
        messages=[message(m) for m in body.messages],
        options=body.options or {},
        format=body.format or None,
        tools=[t.model_dump() for t in body.tools] if body.tools else None,
        keep_alive=body.keep_alive,
        think=body.think,
        truncate=body.truncate is not False,
        logprobs=body.logprobs,
        top_logprobs=body.top_logprobs,
    )


def message(m: ollama.ChatMessage) -> Message:
    calls = [{"function": c.function.model_dump(exclude_none=True)} for c in m.tool_calls or []]
    return Message(m.role, m.content, images=list(m.images or []), tool_calls=calls, tool_name=m.tool_name,
                   thinking=m.thinking or "")


def generate_request(body: ollama.GenerateRequest) -> GenerateRequest:
    return GenerateRequest(
        model=body.model,
        prompt=body.prompt,
        system=body.system,
        template=body.template,
        suffix=body.suffix,
        context=body.context,
        raw=body.raw,
        options=body.options or {},
        format=body.format or None,
        keep_alive=body.keep_alive,
        think=body.think,
        truncate=body.truncate is not False,
        images=list(body.images or []),
        logprobs=body.logprobs,
        top_logprobs=body.top_logprobs,
    )


def metrics(chunk: Chunk) -> dict[str, Any]:
    data: dict[str, Any] = {"done_reason": chunk.done_reason or "stop"}
    data.update(asdict(chunk.timings or Timings()))
    if not data["draft_count"]:  # ember's own fields, only where prompt lookup drafted
        del data["draft_count"], data["draft_accepted"]
    if not data["prompt_eval_cached_count"]:  # as Ollama leaves it out
        del data["prompt_eval_cached_count"]
    return data


def logprobs(chunk: Chunk) -> list[dict[str, Any]]:
    """Ollama's `logprobs`: each token with its log probability, bytes and likeliest alternatives."""
    return [{"token": lp.token, "logprob": lp.logprob, "bytes": lp.bytes,
             "top_logprobs": [asdict(t) for t in lp.top_logprobs]} for lp in chunk.logprobs]


def chat_chunk(model: str, chunk: Chunk) -> dict[str, Any]:
    answer: dict[str, Any] = {"role": "assistant", "content": chunk.text}
    if chunk.thinking:
        answer["thinking"] = chunk.thinking
    if chunk.tool_calls:
        answer["tool_calls"] = chunk.tool_calls
    data: dict[str, Any] = {"model": model, "created_at": timestamp(), "message": answer, "done": chunk.done}
    if chunk.logprobs:
        data["logprobs"] = logprobs(chunk)
    if chunk.done:
        data.update(metrics(chunk))
    return data


def generate_chunk(model: str, chunk: Chunk) -> dict[str, Any]:
    data: dict[str, Any] = {"model": model, "created_at": timestamp(), "response": chunk.text, "done": chunk.done}
    if chunk.thinking:
        data["thinking"] = chunk.thinking
    if chunk.logprobs:
        data["logprobs"] = logprobs(chunk)
    if chunk.done:
        data.update(metrics(chunk))
        if chunk.context is not None:
            data["context"] = chunk.context
    return data


async def collect_answer(first: Chunk, rest: AsyncIterator[Chunk]) -> Chunk:
    """The whole answer of a stream as one last chunk: text, thinking, tool calls and logprobs joined."""
    texts, thoughts, calls, scores, last = [first.text], [first.thinking], list(first.tool_calls), \
        list(first.logprobs), first
    prompt = first.prompt_logprobs
    async for chunk in rest:
        texts.append(chunk.text)
        thoughts.append(chunk.thinking)
        calls.extend(chunk.tool_calls)
        scores.extend(chunk.logprobs)
        prompt = prompt or chunk.prompt_logprobs
        last = chunk
    return Chunk("".join(texts), done=last.done, done_reason=last.done_reason, timings=last.timings,
                 context=last.context, tool_calls=calls, thinking="".join(thoughts), logprobs=scores,
                 prompt_logprobs=prompt)


async def collect(first: Chunk, rest: AsyncIterator[Chunk]) -> tuple[str, list[dict[str, Any]], Chunk]:
    """The whole answer of a stream: its text, its tool calls and its last chunk."""
    answer = await collect_answer(first, rest)
    return answer.text, answer.tool_calls, answer


@dataclass
class Answer:
    """A whole streamed answer, gathered: what the model thought, said and called, and its last chunk."""

    thinking: str
    text: str
    tool_calls: list[dict[str, Any]]
    last: Chunk


async def gather_answer(chunks: AsyncIterator[Chunk]) -> Answer:
    thinking: list[str] = []
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    last = Chunk("", done=True)
    async for chunk in chunks:
        thinking.append(chunk.thinking)
        text.append(chunk.text)
        calls += chunk.tool_calls
        last = chunk
    return Answer("".join(thinking), "".join(text), calls, last)


def details(d: ModelDetails | None) -> dict[str, Any] | None:
    return asdict(d) if d is not None else None


def model_entry(m: ModelSummary) -> dict[str, Any]:
    return {"name": m.name, "model": m.name, "modified_at": timestamp(m.modified_at), "size": m.size,
            "digest": m.digest.removeprefix("sha256:"), "details": details(m.details)}


def running_entry(m: RunningModel) -> dict[str, Any]:
    # Ollama writes a far-future time for a model kept forever
    expires = timestamp(m.expires_at) if m.expires_at else "2318-11-08T00:00:00Z"
    return {"name": m.name, "model": m.name, "size": m.size, "digest": m.digest.removeprefix("sha256:"),
            "details": details(m.details), "expires_at": expires, "size_vram": m.size_vram,
            "context_length": m.context_length}


def parameters_text(parameters: dict[str, Any]) -> str:
    """Ollama's `parameters` string: one `name value` line per value."""
    lines = []
    for name, value in parameters.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{name:<30} {json.dumps(item) if isinstance(item, str) else item}")
    return "\n".join(lines)


def show_response(info: ModelInfo, verbose: bool) -> dict[str, Any]:
    model_info = info.model_info if verbose else {k: v for k, v in info.model_info.items()
                                                   if not (isinstance(v, list) and len(v) > 64)}
    data: dict[str, Any] = {"modelfile": info.modelfile, "parameters": parameters_text(info.parameters),
            "template": info.template, "system": info.system, "license": info.license,
            "details": details(info.details), "model_info": model_info,
            "capabilities": info.capabilities, "modified_at": timestamp(info.modified_at)}
    if info.messages:
        data["messages"] = [{"role": m.role, "content": m.content} for m in info.messages]
    if info.projector_info:
        data["projector_info"] = info.projector_info
    return data


def data_url_base64(url: str, what: str) -> str:
    """The base64 data of an image sent as a data: URL (OpenAI's image_url, the Responses input_image)."""
    if not url.startswith("data:") or ";base64," not in url:
        raise InvalidRequest(f"{what} must be a data URL (data:image/png;base64,…): ember fetches no URLs and "
                             "keeps no files")
    return url.split(";base64,", 1)[1]


def _quoted(text: str) -> str:
    if '"""' in text:
        raise InvalidRequest('a Modelfile value cannot contain """')
    return f'"""{text}"""'


def _uploaded_files(files: dict[str, str] | None) -> tuple[str, str]:
    """The digests of the GGUF weights and of the vision projector (a name holding "mmproj") that `files`
    names, uploaded first through /api/blobs; "" for either that is not there."""
    model = projector = ""
    for name, digest in (files or {}).items():
        if not name.lower().endswith(".gguf"):
            raise InvalidRequest(f'"files" names {name}: ember builds models from GGUF files (.gguf)')
        try:
            checked = "sha256:" + parse_digest(digest)
        except InvalidName as exc:
            raise InvalidRequest(f'"files" names {name} as {digest!r}: {exc}') from None
        kind = "projector" if "mmproj" in name.lower() else "model"
        if (projector if kind == "projector" else model):
            raise InvalidRequest(f'"files" names more than one {kind} file; ember builds a model from one GGUF '
                                 'file and at most one vision projector (mmproj*.gguf)')
        model, projector = (model, checked) if kind == "projector" else (checked, projector)
    return model, projector


def modelfile_from_fields(body: ollama.CreateRequest) -> str:
    """The Modelfile text that Ollama's JSON form of /api/create describes."""
    if body.adapters:
        raise InvalidRequest("ember cannot take uploaded adapters yet; run ember create with an ADAPTER line "
                             "on the machine that holds the file")
    uploaded, projector = _uploaded_files(body.files)
    if body.from_ and uploaded:
        raise InvalidRequest('give "from" (a model to build on) or "files" (an uploaded GGUF), not both')
    base = body.from_ or uploaded
    if any(c in base for c in "\r\n"):
        raise InvalidRequest('"from" is one model name, on one line')
    if not base:
        raise InvalidRequest('create needs "from" (the model to build on), "files" (an uploaded GGUF) or '
                             '"modelfile"')
    lines = [f"FROM {base}"] + ([f"FROM {projector}"] if projector else [])
    if body.template is not None:
        lines.append(f"TEMPLATE {_quoted(body.template)}")
    if body.system is not None:
        lines.append(f"SYSTEM {_quoted(body.system)}")
    for name, value in (body.parameters or {}).items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"PARAMETER {name} {json.dumps(item) if isinstance(item, str) else item}")
    for m in body.messages or []:
        lines.append(f"MESSAGE {m.role} {_quoted(m.content)}")
    licenses = [body.license] if isinstance(body.license, str) else body.license or []
    for text in licenses:
        lines.append(f"LICENSE {_quoted(text)}")
    return "\n".join(lines) + "\n"
