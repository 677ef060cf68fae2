"""OpenAI's wire format: the request and response bodies of `/v1/*`, for the server and the client.

Requests are validated strictly, as the Ollama side is; fields ember does not know are ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from ember.backend.wire.ollama import CUT_SHORT, Tool
from pydantic import BaseModel, ConfigDict, Field


def finish_reason(done_reason: str, tool_calls: bool = False) -> Literal["stop", "length", "tool_calls"]:
    """OpenAI's finish_reason for ember's done_reason: every answer cut short is "length"."""
    return "tool_calls" if tool_calls else "length" if done_reason in CUT_SHORT else "stop"


class OpenAIBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class ImageURL(OpenAIBody):
    url: str
    detail: str | None = None


class ContentPart(OpenAIBody):
    type: str
    text: str = ""
    image_url: ImageURL | str | None = None  # type "image_url": a data: URL of the image


class OAIFunctionCall(OpenAIBody):
    name: str
    arguments: str = "{}"


class OAIToolCall(OpenAIBody):
    id: str = ""
    type: str = "function"
    function: OAIFunctionCall


class OAIMessage(OpenAIBody):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[OAIToolCall] | None = None
    tool_call_id: str | None = None
    reasoning: str | None = None  # an earlier answer's thinking, as Ollama returns it


class JsonSchemaFormat(OpenAIBody):
    name: str = "response"
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(OpenAIBody):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(OpenAIBody):
    include_usage: bool = False


class Sampling(OpenAIBody):
    model: str
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None


class FunctionName(OpenAIBody):
    name: str


class NamedToolChoice(OpenAIBody):
    type: Literal["function"]
    function: FunctionName


MOST_CHOICES = 16


class OAIChatRequest(Sampling):
    messages: list[OAIMessage]
    n: int = Field(1, ge=1, le=MOST_CHOICES, description="answers to the same messages, decoded side by side")
    max_completion_tokens: int | None = None
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None


class OAICompletionRequest(Sampling):
    prompt: str | list[str] | list[int] | list[list[int]] = Field(
        description="a text, texts, or token ids (one list, or a list of them), read as they are")
    n: int = Field(1, ge=1, le=MOST_CHOICES, description="answers to each prompt, decoded side by side")
    suffix: str | None = None
    logprobs: int | None = Field(None, description="how many alternatives to score per token (0 to 20)")
    echo: bool = Field(False, description="the prompt comes back before the answer, scored too with logprobs")


class OAIEmbeddingRequest(OpenAIBody):
    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = None


class OAIModel(BaseModel):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = ""
    max_model_len: int | None = None  # vLLM's context length
    meta: dict[str, Any] | None = None  # llama.cpp's server: n_ctx_train and more


class OAIModelList(BaseModel):
    object: str = "list"
    data: list[OAIModel]


# --- responses -----------------------------------------------------------------------------------
# Lenient where servers differ (llama.cpp, vLLM, LM Studio add fields or leave some out); the client
# reads their answers through these same models.


class OAIPromptTokensDetails(BaseModel):
    cached_tokens: int = 0  # of prompt_tokens, those read from the KV cache


class OAIUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: OAIPromptTokensDetails | None = None


class OAICallFunction(BaseModel):
    name: str | None = None  # a streamed call's later deltas carry only more arguments
    arguments: str | dict[str, Any] = ""  # JSON text; a few servers send the object itself


class OAIAnswerCall(BaseModel):
    id: str | None = None
    index: int | None = None
    type: str = "function"
    function: OAICallFunction


class OAIAnswer(BaseModel):
    role: str = "assistant"
    content: str | None = None
    reasoning: str | None = None  # the thinking, in the field Ollama uses
    tool_calls: list[OAIAnswerCall] | None = None


class OAITopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class OAITokenLogprob(OAITopLogprob):
    top_logprobs: list[OAITopLogprob] = Field(default_factory=list)


class OAIChoiceLogprobs(BaseModel):
    content: list[OAITokenLogprob] | None = None


class OAIChatChoice(BaseModel):
    index: int = 0
    message: OAIAnswer
    logprobs: OAIChoiceLogprobs | None = None
    finish_reason: str | None = None


class OAIChatCompletion(BaseModel):
    """A whole chat answer (`stream` false)."""

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    system_fingerprint: str | None = None
    choices: list[OAIChatChoice]
    usage: OAIUsage | None = None


class OAIDelta(BaseModel):
    role: str | None = None
    content: str | None = None
    reasoning: str | None = None
    tool_calls: list[OAIAnswerCall] | None = None


class OAIChunkChoice(BaseModel):
    index: int = 0
    delta: OAIDelta
    logprobs: OAIChoiceLogprobs | None = None
    finish_reason: str | None = None


class OAIChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed chat answer; the last may hold only `usage`."""

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    system_fingerprint: str | None = None
    choices: list[OAIChunkChoice]
    usage: OAIUsage | None = None


class OAICompletionChoice(BaseModel):
    text: str = ""
    index: int = 0
    logprobs: dict[str, Any] | None = None
    finish_reason: str | None = None


class OAICompletion(BaseModel):
    """A text completion, whole or one streamed event of it (the same shape)."""

    id: str = ""
    object: str = "text_completion"
    created: int = 0
    model: str = ""
    system_fingerprint: str | None = None
    choices: list[OAICompletionChoice]
    usage: OAIUsage | None = None


class OAIEmbedding(BaseModel):
    object: str = "embedding"
    # floats; base64 of float32s (encoding_format "base64"); one row per token from servers that do not pool
    embedding: list[float] | list[list[float]] | str
    index: int = 0


class OAIEmbeddingList(BaseModel):
    object: str = "list"
    model: str = ""
    data: list[OAIEmbedding]
    usage: OAIUsage | None = None


class OAIErrorDetail(BaseModel):
    message: str
    type: str | None = None
    param: str | None = None
    code: str | int | None = None


class OAIErrorResponse(BaseModel):
    error: OAIErrorDetail


# --- vLLM's tokenizer endpoints, beside its OpenAI API: /tokenize, /detokenize, /tokenizer_info ---------


class TokenizeRequest(OpenAIBody):
    model: str | None = Field(None, description="the model whose tokenizer reads it (none: the one loaded)")
    prompt: str
    add_special_tokens: bool = True


class TokenizeResponse(BaseModel):
    count: int
    max_model_len: int
    tokens: list[int]


class DetokenizeRequest(OpenAIBody):
    model: str | None = None
    tokens: list[int]


class DetokenizeResponse(BaseModel):
    prompt: str


class TokenizerInfoResponse(BaseModel):
    tokenizer_class: str
    bos_token: str | None = None
    eos_token: str | None = None
    pad_token: str | None = None
    chat_template: str | None = None
    model_max_length: int
