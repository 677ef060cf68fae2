"""OpenAI's wire format: the request and response bodies of `/v1/*`, for the server and the client.

Requests are validated strictly, as the Ollama side is; fields ember does not know are ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from ember.backend.wire.ollama import Tool
from pydantic import BaseModel, ConfigDict, Field


class OpenAIBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class ContentPart(OpenAIBody):
    type: str
    text: str = ""


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


class OAIChatRequest(Sampling):
    messages: list[OAIMessage]
    max_completion_tokens: int | None = None
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None


class OAICompletionRequest(Sampling):
    prompt: str | list[str]
    suffix: str | None = None
    logprobs: int | None = Field(None, description="how many alternatives to score per token (0 to 20)")


class OAIEmbeddingRequest(OpenAIBody):
    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = None


class OAIModel(BaseModel):
    id: str
    object: str = "model"
    created: int
    owned_by: str = "library"


class OAIModelList(BaseModel):
    object: str = "list"
    data: list[OAIModel]
