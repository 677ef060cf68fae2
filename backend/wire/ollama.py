"""Ollama's wire format: every request and response body of `/api/*`, for the server and the client.

Requests are validated strictly (a string where a boolean belongs is a 400, as in Ollama's Go
decoder); fields a client sends that ember does not know are ignored, as Ollama ignores them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The Ollama release whose API ember answers as (the first with Anthropic's Messages API): clients that
# gate features on Ollama's version read /api/version's "version"; ember's own is beside it.
API_VERSION = "0.14.0"

Format = Literal["", "json"] | dict[str, Any] | None

# Why an answer ended. Ollama's own: "stop" (the model or a stop string), "length" (num_predict, or a
# num_predict of -2 filled the context), "load"/"unload" (a request with no messages); ember adds
# "cancel" (the client left), "context" (an unlimited answer filled its context four times over) and
# "repetition" (an unlimited answer kept repeating one cycle of tokens).
DoneReason = Literal["stop", "length", "load", "unload", "cancel", "context", "repetition"]
CUT_SHORT = frozenset({"length", "context", "repetition"})  # the answer did not end by itself
KeepAlive = str | float | int | None


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


class Named(Body):
    """Ollama accepts `name` where older clients send it instead of `model`."""

    model: str = Field("", description="model name, e.g. smollm2:135m")
    name: str = Field("", description="older spelling of model")

    @model_validator(mode="after")
    def _need_model(self) -> Named:
        self.model = self.model or self.name
        if not self.model:
            raise ValueError("model is required")
        return self


# --- Ollama: inference ---------------------------------------------------------------------------


class ToolFunction(Body):
    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)


class Tool(Body):
    type: str = "function"
    function: ToolFunction


class CallFunction(Body):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    index: int | None = None


class ToolCall(Body):
    function: CallFunction


class ChatMessage(Body):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: list[str] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_name: str = ""
    thinking: str | None = None


class GenerateRequest(Named):
    prompt: str = ""
    suffix: str = ""
    system: str | None = None
    template: str | None = None
    context: list[int] | None = None
    raw: bool = False
    format: Format = None
    images: list[str] | None = None
    options: dict[str, Any] | None = None
    stream: bool = True
    keep_alive: KeepAlive = None
    think: bool | str | None = None
    truncate: bool | None = None
    logprobs: bool = False
    top_logprobs: int = 0


class ChatRequest(Named):
    messages: list[ChatMessage] = Field(default_factory=list)
    tools: list[Tool] | None = None
    format: Format = None
    options: dict[str, Any] | None = None
    stream: bool = True
    keep_alive: KeepAlive = None
    think: bool | str | None = None
    truncate: bool | None = None
    logprobs: bool = False
    top_logprobs: int = 0


class Metrics(BaseModel):
    model: str
    created_at: str
    done: bool
    done_reason: str | None = None
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    prompt_eval_cached_count: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None
    # ember's own, beyond Ollama's: tokens prompt lookup drafted and of those the ones kept (absent: none)
    draft_count: int | None = None
    draft_accepted: int | None = None


class TokenLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class Logprob(TokenLogprob):
    top_logprobs: list[TokenLogprob] | None = None


class GenerateResponse(Metrics):
    response: str
    thinking: str | None = None
    context: list[int] | None = None
    logprobs: list[Logprob] | None = None


class AnswerMessage(BaseModel):
    role: str = "assistant"
    content: str
    thinking: str | None = None
    tool_calls: list[ToolCall] | None = None


class ChatResponse(Metrics):
    message: AnswerMessage
    logprobs: list[Logprob] | None = None


class EmbedRequest(Named):
    input: str | list[str] = Field(default="", description="a text or a list of texts")
    truncate: bool = True
    options: dict[str, Any] | None = None
    keep_alive: KeepAlive = None
    dimensions: int | None = None


class EmbedResponse(BaseModel):
    model: str = ""
    embeddings: list[list[float]]
    total_duration: int = 0
    load_duration: int = 0
    prompt_eval_count: int = 0


class EmbeddingsRequest(Named):
    prompt: str = ""
    options: dict[str, Any] | None = None
    keep_alive: KeepAlive = None


class EmbeddingsResponse(BaseModel):
    embedding: list[float]


# --- Ollama: models ------------------------------------------------------------------------------


class Details(BaseModel):
    parent_model: str = ""
    format: str = "gguf"
    family: str = ""
    families: list[str] | None = None
    parameter_size: str = ""
    quantization_level: str = ""


class ModelEntry(BaseModel):
    name: str
    model: str = ""
    modified_at: str
    size: int
    digest: str
    details: Details


class TagsResponse(BaseModel):
    models: list[ModelEntry]


class RunningEntry(BaseModel):
    name: str
    model: str
    size: int
    digest: str
    details: Details | None = None
    expires_at: str = ""
    size_vram: int = 0
    context_length: int = 0  # sent since Ollama 0.6


class PsResponse(BaseModel):
    models: list[RunningEntry]


class ShowRequest(Named):
    verbose: bool = False


class ShowResponse(BaseModel):
    """ember sends every field; Ollama leaves the empty ones out."""

    modelfile: str = ""
    parameters: str = ""
    template: str = ""
    system: str = ""
    license: str = ""
    details: Details = Field(default_factory=Details)
    model_info: dict[str, Any] = Field(default_factory=dict)
    capabilities: list[str] = Field(default_factory=list)
    modified_at: str = ""
    messages: list[dict[str, Any]] | None = None
    projector_info: dict[str, Any] | None = None  # a model with a vision projector: its GGUF metadata


class CreateRequest(Named):
    from_: str = Field("", alias="from")
    modelfile: str = ""
    path: str = ""
    system: str | None = None
    template: str | None = None
    license: str | list[str] | None = None
    parameters: dict[str, Any] | None = None
    messages: list[ChatMessage] | None = None
    adapters: dict[str, str] | None = None
    files: dict[str, str] | None = None
    quantize: str | None = Field(None, description="write the weights anew in this quantisation, e.g. q4_K_M")
    stream: bool = True


class CopyRequest(Body):
    source: str
    destination: str


class DeleteRequest(Named):
    pass


class PullRequest(Named):
    insecure: bool = Field(False, description="allow a registry on plain http")
    stream: bool = True


class ProgressResponse(BaseModel):
    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


class VersionResponse(BaseModel):
    version: str = Field(description="the Ollama API version ember implements")
    ember_version: str = Field("", description="ember's own version")


class ErrorResponse(BaseModel):
    error: str
