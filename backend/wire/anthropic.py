"""Anthropic's Messages API wire format: the bodies of `/v1/messages` and `/v1/messages/count_tokens`.

Requests are validated strictly; fields ember does not use (`metadata`, `cache_control`,
`service_tier`, …) are accepted and ignored, as Ollama's own Anthropic layer does.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from ember.backend.wire.ollama import CUT_SHORT
from pydantic import BaseModel, ConfigDict, Field, RootModel

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               501: "invalid_request_error", 503: "overloaded_error", 529: "overloaded_error"}


class AnthropicBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


# --- content blocks --------------------------------------------------------------------------------


class TextBlock(AnthropicBody):
    type: Literal["text"]
    text: str
    cache_control: dict[str, Any] | None = None


class ImageSource(AnthropicBody):
    type: Literal["base64", "url"]
    media_type: str = ""
    data: str = ""
    url: str = ""


class ImageBlock(AnthropicBody):
    type: Literal["image"]
    source: ImageSource
    cache_control: dict[str, Any] | None = None


class ToolUseBlock(AnthropicBody):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    cache_control: dict[str, Any] | None = None


class ToolResultBlock(AnthropicBody):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[Annotated[TextBlock | ImageBlock, Field(discriminator="type")]] = ""
    is_error: bool = False
    cache_control: dict[str, Any] | None = None


class ThinkingBlock(AnthropicBody):
    type: Literal["thinking"]
    thinking: str
    signature: str = ""


class RedactedThinkingBlock(AnthropicBody):
    type: Literal["redacted_thinking"]
    data: str


ContentBlock = Annotated[
    TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock,
    Field(discriminator="type"),
]


class MessageParam(AnthropicBody):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


# --- tools, thinking --------------------------------------------------------------------------------


class ToolParam(AnthropicBody):
    name: str
    description: str = ""
    input_schema: dict[str, Any] | None = None
    type: str | None = None  # "custom", or a server tool's versioned type (web_search_20250305, …)
    cache_control: dict[str, Any] | None = None


class ToolChoice(AnthropicBody):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class ThinkingConfig(AnthropicBody):
    type: str  # enabled | adaptive | disabled | …: anything but "disabled" asks for thinking
    budget_tokens: int | None = None


class OutputFormat(AnthropicBody):
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(AnthropicBody):
    format: OutputFormat | None = None
    effort: str | None = None


class Metadata(AnthropicBody):
    user_id: str | None = None


class CountTokensRequest(AnthropicBody):
    model: str
    messages: list[MessageParam]
    system: str | list[TextBlock] | None = None
    tools: list[ToolParam] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None


class MessagesRequest(CountTokensRequest):
    max_tokens: int = Field(ge=1)
    stop_sequences: list[str] | None = None
    stream: bool = False
    temperature: float | None = Field(None, ge=0.0, le=1.0)
    top_p: float | None = None
    top_k: int | None = None
    metadata: Metadata | None = None


# --- responses ---------------------------------------------------------------------------------------


class Usage(BaseModel):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "model_context_window_exceeded"]


def cut_stop_reason(done_reason: str) -> StopReason | None:
    """Anthropic's stop_reason for an answer ember cut short (None when it ended by itself).

    An answer that filled its context is "model_context_window_exceeded"; one stopped for
    repeating itself was cut at a length ember chose, the nearest of Anthropic's reasons being "max_tokens".
    """
    if done_reason == "context":
        return "model_context_window_exceeded"
    return "max_tokens" if done_reason in CUT_SHORT else None


class TextContent(BaseModel):
    type: Literal["text"] = "text"
    text: str


class ThinkingContent(BaseModel):
    type: Literal["thinking"] = "thinking"
    thinking: str
    signature: str = ""


class ToolUseContent(BaseModel):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]


AnswerBlock = Annotated[TextContent | ThinkingContent | ToolUseContent, Field(discriminator="type")]


class Message(BaseModel):
    """A whole answer (`stream: false`), and the `message` of a stream's message_start."""

    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[AnswerBlock]
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    usage: Usage


# --- the stream's events -------------------------------------------------------------------------------


class TextDelta(BaseModel):
    type: Literal["text_delta"]
    text: str


class ThinkingDelta(BaseModel):
    type: Literal["thinking_delta"]
    thinking: str


class InputJsonDelta(BaseModel):
    type: Literal["input_json_delta"]
    partial_json: str


class MessageStart(BaseModel):
    type: Literal["message_start"]
    message: Message


class Ping(BaseModel):
    type: Literal["ping"]


class ContentBlockStart(BaseModel):
    type: Literal["content_block_start"]
    index: int
    content_block: AnswerBlock


class ContentBlockDelta(BaseModel):
    type: Literal["content_block_delta"]
    index: int
    delta: Annotated[TextDelta | ThinkingDelta | InputJsonDelta, Field(discriminator="type")]


class ContentBlockStop(BaseModel):
    type: Literal["content_block_stop"]
    index: int


class MessageDeltaBody(BaseModel):
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None


class MessageDelta(BaseModel):
    type: Literal["message_delta"]
    delta: MessageDeltaBody
    usage: Usage


class MessageStop(BaseModel):
    type: Literal["message_stop"]


class CountTokensResponse(BaseModel):
    input_tokens: int


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorResponse(BaseModel):
    type: Literal["error"] = "error"
    error: ErrorDetail


class StreamEvent(RootModel[Annotated[
        MessageStart | Ping | ContentBlockStart | ContentBlockDelta | ContentBlockStop | MessageDelta | MessageStop
        | ErrorResponse, Field(discriminator="type")]]):
    """One server-sent event of a streamed answer (its `event:` line names its type)."""


def error(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error object for an HTTP status."""
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return ErrorResponse(error=ErrorDetail(type=kind, message=message)).model_dump()


def error_body(status: int, message: str) -> bytes:
    return json.dumps(error(status, message), ensure_ascii=False).encode()
