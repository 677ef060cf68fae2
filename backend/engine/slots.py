"""Slots: one llama.cpp sequence each, its KV cache contents, and the request using it now.

Each slot remembers the tokens its sequence holds, so a request that continues a conversation is
placed in the slot that already has the conversation and only evaluates what is new.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import llama_cpp as lc
from ember.backend.engine.lookup import Lookup
from ember.backend.engine.promptscores import PromptScoring, ScoredPrefix
from ember.backend.engine.sampler import SamplerChain
from ember.backend.engine.stops import AnswerStops
from ember.backend.engine.textstream import TextStream
from ember.backend.parameters import Options
from ember.backend.types import Chunk, TokenLogprob

if TYPE_CHECKING:
    from ember.backend.engine.vision import MediaPrompt


class Outbox(Protocol):
    """Where the batch loop puts a request's chunks (and the error that ends it), from its own thread."""

    def put(self, item: Chunk | BaseException, /) -> None: ...


@dataclass(eq=False)
class Request:
    """One generation: its prompt, its sampler chain, and where its chunks go."""

    prompt: list[int]
    options: Options
    sampler: SamplerChain
    cancel: threading.Event | None = None
    out: Outbox = field(default_factory=queue.SimpleQueue[Chunk | BaseException])
    started: int = field(default_factory=time.perf_counter_ns)
    abandoned: bool = False  # the consumer stopped reading
    todo: list[int] = field(default_factory=list)  # prompt tokens not evaluated yet
    prompt_count: int = 0  # the prompt's tokens, those the cache held included
    prompt_cached: int = 0  # of those, the ones the slot's cache held
    prompt_done: int = 0
    count: int = 0
    limit: int = 0
    top_logprobs: int = -1  # alternatives to score per token; below 0, no logprobs (the cheap path)
    special: bool = False  # render control tokens as text (gpt-oss's channel markers)
    logprobs: list[TokenLogprob] = field(default_factory=list)  # scored tokens not sent yet
    media: MediaPrompt | None = None  # the prompt's images (backend.engine.vision); None: text only
    scoring: PromptScoring | None = None  # the prompt's own log probabilities are asked for (promptscores)
    stream: TextStream = field(init=False)
    stops: AnswerStops = field(init=False)
    lookup: Lookup | None = field(init=False)  # drafts the next tokens; None with num_draft 0 or images

    def __post_init__(self) -> None:
        self.stream = TextStream(self.options.stop)
        self.stops = AnswerStops(self.options.num_predict, self.options.num_ctx)
        drafting = self.options.num_draft > 0 and self.media is None
        self.lookup = Lookup(self.prompt, self.options.num_draft) if drafting else None
        n = self.options.num_predict
        self.limit = n if n >= 0 else 1 << 62

    @property
    def stopping(self) -> bool:
        return self.abandoned or (self.cancel is not None and self.cancel.is_set())


@dataclass(eq=False)
class Slot:
    seq_id: int
    tokens: list[int] = field(default_factory=list)  # what the KV cache holds for this sequence
    request: Request | None = None
    pending: int = -1  # the sampled token still to be evaluated
    drafts: list[int] = field(default_factory=list)  # fed after `pending` in the last batch, to be verified
    logits_at: int = -1  # this slot's row of logits in the last batch, or -1
    last_used: float = 0.0
    shifted: bool = False  # a context shift dropped tokens: what follows them was computed beside them
    scored: ScoredPrefix | None = None  # the scores of the prompt it last scored (promptscores)


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def pick_slot(free: list[Slot], prompt: list[int]) -> Slot:
    """Where `prompt` costs least and destroys least.

    A slot that holds the prompt but for a few tokens first, the longest shared prefix: the same
    conversation continued (a few cached tokens differ, e.g. text held back at a stop string), or
    asked again (a retry, an edited last message: the cache goes on past the prompt with the old
    answer). Then an empty slot, so another conversation's cache survives a shared system prompt;
    then the least recently used slot.
    """
    best, best_shared = None, -1
    for slot in free:
        if slot.tokens and (shared := goes_on(slot.tokens, prompt)) > best_shared:
            best, best_shared = slot, shared
    if best is not None:
        return best
    empty = [s for s in free if not s.tokens]
    return empty[0] if empty else min(free, key=lambda s: s.last_used)


def goes_on(cached: list[int], prompt: list[int]) -> int:
    """The tokens `prompt` shares with `cached` when it continues that conversation (all but a few
    cached tokens shared) or asks it again (all but a tenth of the prompt shared); else -1."""
    shared = common_prefix(cached, prompt)
    continued = len(cached) - shared <= few(len(cached))
    asked_again = len(prompt) - shared <= len(prompt) // 10
    return shared if continued or asked_again else -1


def few(tokens: int) -> int:
    """How many tokens may differ between a cache and a prompt of the same conversation."""
    return max(4, tokens // 10)


def reuse_prefix(memory: object, slot: Slot, prompt: list[int]) -> list[int]:
    """Keep the slot's cached tokens the prompt starts with; return the tokens still to evaluate."""
    keep = min(common_prefix(slot.tokens, prompt), len(prompt) - 1)  # the last token makes logits
    if keep < len(slot.tokens):
        if not lc.llama_memory_seq_rm(memory, slot.seq_id, keep, -1):
            forget(memory, slot)
            return prompt
        del slot.tokens[keep:]
    return prompt[keep:]


def forget(memory: object, slot: Slot) -> None:
    lc.llama_memory_seq_rm(memory, slot.seq_id, -1, -1)
    slot.tokens.clear()
    slot.shifted = False
    slot.scored = None


def reuse_scored_prefix(memory: object, slot: Slot, scoring: PromptScoring) -> list[int]:
    """Keep what the slot scored of the prompt's start, its cache and scores; return the tokens still to
    evaluate (all of them, from an emptied sequence, where nothing is kept)."""
    keep = reusable_scores(slot, scoring.prompt, scoring.top)
    if keep == 0 or slot.scored is None or not lc.llama_memory_seq_rm(memory, slot.seq_id, keep, -1):
        forget(memory, slot)
        return list(scoring.prompt)
    del slot.tokens[keep:]
    scoring.reuse(slot.scored, keep)
    return scoring.prompt[keep:]


def reusable_scores(slot: Slot, prompt: list[int], top: int) -> int:
    """How many of `prompt`'s first tokens the slot keeps when it scores `prompt`: each must be in its cache
    and scored before, and so must the token after the last (its row is cached, its logits are not)."""
    saved = slot.scored
    if saved is None or slot.shifted or saved.top < top:
        return 0
    return max(0, min(common_prefix(slot.tokens, prompt), common_prefix(saved.tokens, prompt) - 1, len(prompt) - 1))


def fit(prompt: list[int], options: Options, num_ctx: int) -> list[int]:
    """Drop the oldest tokens after num_keep when a prompt would not leave room to answer."""
    room = num_ctx - min(max(options.num_predict, 0) or 256, num_ctx // 4)
    if len(prompt) <= room:
        return prompt
    keep = max(0, min(options.num_keep, room // 2))
    return prompt[:keep] + prompt[len(prompt) - (room - keep) :]


def shift(memory: object, slot: Slot, num_keep: int) -> bool:
    """Make room in a full sequence: keep num_keep tokens, discard half of the rest."""
    if not lc.llama_memory_can_shift(memory):
        return False
    n_past = len(slot.tokens)
    keep = max(0, min(num_keep, n_past // 2))
    discard = (n_past - keep) // 2
    lc.llama_memory_seq_rm(memory, slot.seq_id, keep, keep + discard)
    lc.llama_memory_seq_add(memory, slot.seq_id, keep + discard, n_past, -discard)
    del slot.tokens[keep : keep + discard]
    slot.shifted = True
    return True
