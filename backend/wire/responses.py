"""OpenAI's Responses API wire format: the bodies of `POST /v1/responses`, stateless as Ollama's.

Requests are validated strictly; fields ember does not use (`store`, `metadata`, `user`, …) are
accepted and ignored. Nothing is kept between requests, so `previous_response_id` is refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from ember.backend.wire.ollama import CUT_SHORT
from pydantic import BaseModel, ConfigDict, Discriminator, Field, RootModel, Tag

ItemStatus = Literal["in_progress", "completed", "incomplete"]
ResponseStatus = Literal["in_progress", "completed", "incomplete", "failed"]


class ResponsesBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


# --- input items -------------------------------------------------------------------------------------


class TextPart(ResponsesBody):
    type: Literal["input_text", "output_text"]
    text: str


class ImagePart(ResponsesBody):
    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None


class RefusalPart(ResponsesBody):
    type: Literal["refusal"]
    refusal: str


ContentPart = Annotated[TextPart | ImagePart | RefusalPart, Field(discriminator="type")]


class MessageItem(ResponsesBody):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]


class FunctionCallItem(ResponsesBody):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str = "{}"


class FunctionCallOutputItem(ResponsesBody):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[ContentPart]


class ReasoningItem(ResponsesBody):
    type: Literal["reasoning"]
    summary: list[dict[str, Any]] = Field(default_factory=list)
    content: list[dict[str, Any]] | None = None


class ItemReference(ResponsesBody):
    type: Literal["item_reference"]
    id: str


def _item_type(value: Any) -> str:
    kind = value.get("type", "message") if isinstance(value, dict) else getattr(value, "type", "message")
    return kind if isinstance(kind, str) else ""


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")]
    | Annotated[ReasoningItem, Tag("reasoning")]
    | Annotated[ItemReference, Tag("item_reference")],
    Discriminator(_item_type),
]


# --- tools, formats, reasoning -----------------------------------------------------------------------


class Tool(ResponsesBody):
    type: str  # "function"; hosted tools (web_search, file_search, …) are refused by name
    name: str = ""
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionChoice(ResponsesBody):
    type: Literal["function"]
    name: str


class TextFormat(ResponsesBody):
    type: Literal["text", "json_object", "json_schema"]
    name: str = ""
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class TextConfig(ResponsesBody):
    format: TextFormat | None = None


class Reasoning(ResponsesBody):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: str | None = None


class ResponsesRequest(ResponsesBody):
    model: str
    input: str | list[InputItem]
    instructions: str | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = None
    top_p: float | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | FunctionChoice | None = None
    text: TextConfig | None = None
    reasoning: Reasoning | None = None
    stream: bool = False
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None


# --- the response ------------------------------------------------------------------------------------


class OutputText(BaseModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[dict[str, Any]] = Field(default_factory=list)
    logprobs: list[dict[str, Any]] = Field(default_factory=list)


class OutputMessage(BaseModel):
    type: Literal["message"] = "message"
    id: str
    status: ItemStatus = "completed"
    role: Literal["assistant"] = "assistant"
    content: list[OutputText] = Field(default_factory=list)


class FunctionCall(BaseModel):
    type: Literal["function_call"] = "function_call"
    id: str
    call_id: str
    name: str
    arguments: str
    status: ItemStatus = "completed"


class ReasoningText(BaseModel):
    type: Literal["reasoning_text"] = "reasoning_text"
    text: str


class OutputReasoning(BaseModel):
    type: Literal["reasoning"] = "reasoning"
    id: str
    summary: list[dict[str, Any]] = Field(default_factory=list)
    content: list[ReasoningText] = Field(default_factory=list)
    status: ItemStatus = "completed"


OutputItem = Annotated[OutputMessage | FunctionCall | OutputReasoning, Field(discriminator="type")]


class InputTokensDetails(BaseModel):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class Usage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: InputTokensDetails = Field(default_factory=InputTokensDetails)
    output_tokens_details: OutputTokensDetails = Field(default_factory=OutputTokensDetails)


class IncompleteDetails(BaseModel):
    reason: Literal["max_output_tokens", "content_filter"]


def incomplete_details(done_reason: str) -> IncompleteDetails | None:
    """Why a response is "incomplete": any answer ember cut short reached the most output it may have."""
    return IncompleteDetails(reason="max_output_tokens") if done_reason in CUT_SHORT else None


class Response(BaseModel):
    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: ResponseStatus
    model: str
    output: list[OutputItem] = Field(default_factory=list)
    error: dict[str, Any] | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    tools: list[dict[str, Any]] = Field(default_factory=list)
    tool_choice: str | dict[str, Any] = "auto"
    parallel_tool_calls: bool = False
    text: dict[str, Any] = Field(default_factory=lambda: {"format": {"type": "text"}})
    reasoning: dict[str, Any] | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    previous_response_id: None = None
    store: bool = False
    truncation: Literal["disabled"] = "disabled"
    usage: Usage | None = None


# --- the stream's events -------------------------------------------------------------------------------


class Numbered(BaseModel):
    sequence_number: int


class ResponseEvent(Numbered):
    type: Literal["response.created", "response.in_progress", "response.completed", "response.incomplete",
                  "response.failed"]
    response: Response


class OutputItemEvent(Numbered):
    type: Literal["response.output_item.added", "response.output_item.done"]
    output_index: int
    item: OutputItem


class ContentPartEvent(Numbered):
    type: Literal["response.content_part.added", "response.content_part.done"]
    item_id: str
    output_index: int
    content_index: int
    part: Annotated[OutputText | ReasoningText, Field(discriminator="type")]


class TextDeltaEvent(Numbered):
    type: Literal["response.output_text.delta", "response.reasoning_text.delta"]
    item_id: str
    output_index: int
    content_index: int
    delta: str
    logprobs: list[dict[str, Any]] | None = None


class TextDoneEvent(Numbered):
    type: Literal["response.output_text.done", "response.reasoning_text.done"]
    item_id: str
    output_index: int
    content_index: int
    text: str
    logprobs: list[dict[str, Any]] | None = None


class ArgumentsDeltaEvent(Numbered):
    type: Literal["response.function_call_arguments.delta"]
    item_id: str
    output_index: int
    delta: str


class ArgumentsDoneEvent(Numbered):
    type: Literal["response.function_call_arguments.done"]
    item_id: str
    output_index: int
    name: str
    arguments: str


class ErrorEvent(Numbered):
    type: Literal["error"]
    code: str | None = None
    message: str
    param: str | None = None


class StreamEvent(RootModel[Annotated[
        ResponseEvent | OutputItemEvent | ContentPartEvent | TextDeltaEvent | TextDoneEvent | ArgumentsDeltaEvent
        | ArgumentsDoneEvent | ErrorEvent, Field(discriminator="type")]]):
    """One server-sent event of a streamed response (its `event:` line names its type)."""
