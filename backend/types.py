"""The data every front end exchanges with a Backend: requests, stream chunks, model descriptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Message:
    role: str  # system | user | assistant | tool
    content: str
    images: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_name: str = ""
    thinking: str = ""  # what an assistant turn thought before its content

    def to_template(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.thinking:
            data["reasoning_content"] = self.thinking  # the name GGUF Jinja templates read
        if self.tool_calls:
            data["tool_calls"] = self.tool_calls
        if self.tool_name:
            data["name"] = self.tool_name
        return data


@dataclass
class Timings:
    """Ollama's timing fields, all durations in nanoseconds."""

    total_duration: int = 0
    load_duration: int = 0
    prompt_eval_count: int = 0  # the whole prompt, as Ollama counts it: the tokens read from the cache too
    prompt_eval_duration: int = 0
    prompt_eval_cached_count: int = 0  # of those, the ones the KV cache already held (Ollama's field)
    eval_count: int = 0
    eval_duration: int = 0
    draft_count: int = 0  # tokens drafted by prompt lookup and checked in the same batch as the answer
    draft_accepted: int = 0  # of those, the ones the sampler chose (each saved a step)

    @property
    def eval_rate(self) -> float:
        return self.eval_count / (self.eval_duration / 1e9) if self.eval_duration else 0.0

    @property
    def prompt_evaluated(self) -> int:
        """The prompt's tokens evaluated for this answer: those the cache did not hold."""
        return self.prompt_eval_count - self.prompt_eval_cached_count

    @property
    def prompt_eval_rate(self) -> float:
        return self.prompt_evaluated / (self.prompt_eval_duration / 1e9) if self.prompt_eval_duration else 0.0


@dataclass
class TokenChoice:
    """A token the sampler could have picked, with its log probability."""

    token: str
    logprob: float
    bytes: list[int] = field(default_factory=list)


@dataclass
class TokenLogprob(TokenChoice):
    """A generated token's log probability after the sampler chain, and the likeliest alternatives."""

    top_logprobs: list[TokenChoice] = field(default_factory=list)


@dataclass
class PromptLogprobs:
    """A scored prompt: each token's log probability given the tokens before it (the model's own
    distribution, before any sampler), with the likeliest alternatives. The first token has no tokens
    before it, so it comes without a score."""

    first: str
    first_bytes: list[int]
    rest: list[TokenLogprob]


@dataclass
class Chunk:
    """One piece of a streamed answer; the last one has done=True and the timings."""

    text: str
    done: bool = False
    done_reason: str = ""  # one of wire.ollama.DoneReason
    timings: Timings | None = None
    context: list[int] | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    pieces: int = 1  # streamed pieces (about one token each) this chunk's text joins
    thinking: str = ""  # reasoning text, streamed before the answer's content and never inside it
    stop_sequence: str = ""  # on the last chunk: the stop string that ended the answer, if one did
    logprobs: list[TokenLogprob] = field(default_factory=list)  # the tokens this chunk's text came from
    prompt_logprobs: PromptLogprobs | None = None  # before the answer's first text, when the prompt was scored


def merge_text_chunks(chunks: list[Chunk]) -> list[Chunk]:
    """Runs of plain text pieces that arrived together become one piece; the rest stay as they are."""
    merged: list[Chunk] = []
    for chunk in chunks:
        plain = not chunk.done and not chunk.tool_calls and chunk.prompt_logprobs is None
        last = merged[-1] if merged else None
        # thinking always comes before content: a piece of thinking after content stays apart
        if (plain and last is not None and not last.done and not last.tool_calls
                and last.prompt_logprobs is None and not (chunk.thinking and last.text)):
            merged[-1] = Chunk(last.text + chunk.text, pieces=last.pieces + chunk.pieces,
                               thinking=last.thinking + chunk.thinking, logprobs=last.logprobs + chunk.logprobs)
        else:
            merged.append(chunk)
    return merged


@dataclass
class ChatRequest:
    model: str
    messages: list[Message]
    options: dict[str, Any] = field(default_factory=dict)
    format: str | dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    keep_alive: str | float | None = None
    think: bool | str | None = None  # True/False, or a level "low" | "medium" | "high"; None: the model's way
    truncate: bool = True  # False: a prompt longer than the context is refused, not cut
    logprobs: bool = False
    top_logprobs: int = 0  # alternatives per token, with logprobs


@dataclass
class GenerateRequest:
    model: str
    prompt: str = ""
    system: str | None = None
    template: str | None = None
    suffix: str = ""
    context: list[int] | None = None
    raw: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    format: str | dict[str, Any] | None = None
    keep_alive: str | float | None = None
    think: bool | str | None = None
    truncate: bool = True
    images: list[str] = field(default_factory=list)
    logprobs: bool = False
    top_logprobs: int = 0
    score_prompt: bool = False  # the prompt's own log probabilities too (OpenAI's echo): read raw, never cut


@dataclass
class TokenizerInfo:
    """What a client tokenizing through the server needs to know of a model's tokenizer."""

    bos_token: str  # "" where the model has none
    eos_token: str
    chat_template: str  # the GGUF's Jinja template ("" where it has none)
    context_length: int  # the tokens a sequence holds as loaded


@dataclass
class Embeddings:
    vectors: list[list[float]]
    prompt_tokens: int = 0  # the tokens read, all inputs together (0: the server did not say)


@dataclass
class ModelDetails:
    format: str = "gguf"
    family: str = ""
    families: list[str] = field(default_factory=list)
    parameter_size: str = ""
    quantization_level: str = ""
    parent_model: str = ""


@dataclass
class ModelSummary:
    name: str
    digest: str
    size: int
    modified_at: float
    details: ModelDetails


@dataclass
class ModelInfo:
    name: str
    details: ModelDetails
    model_info: dict[str, Any]
    parameters: dict[str, Any]
    template: str
    system: str
    license: str
    messages: list[Message]
    modelfile: str
    modified_at: float
    capabilities: list[str] = field(default_factory=list)
    projector_info: dict[str, Any] = field(default_factory=dict)  # the vision projector's GGUF metadata


@dataclass
class PullProgress:
    status: str
    digest: str = ""
    total: int = 0
    completed: int = 0


@dataclass
class ImportResult:
    """One model found by `ember import`: `imported`, or `skipped` with the reason."""

    name: str
    status: str  # imported | skipped
    reason: str = ""


@dataclass
class RunningModel:
    name: str
    digest: str
    size: int
    size_vram: int
    expires_at: float  # unix time; 0 means never
    context_length: int
    details: ModelDetails
