"""A start of a prompt that another slot's cache holds is copied from that slot, not evaluated again (one
system prompt for many conversations, the n choices of one request); prompts that arrive together wait for
the first of them to be evaluated, then copy it. A prompt being scored copies, with the cache, the scores
another slot saved for that start (the answers of one multiple-choice question sent at once)."""

from __future__ import annotations

import llama_cpp as lc
from ember.backend.engine.slots import Request, Slot, common_prefix, reusable_scores

COPY_GAIN = 64  # prompt tokens another slot must hold beyond this slot's own for its cache to be copied


def copy_prefix(memory: object, slots: list[Slot], slot: Slot, prompt: list[int]) -> None:
    """Make `slot`'s cache a copy of the other slot's that starts the prompt with COPY_GAIN tokens more than
    this slot does (llama.cpp copies a whole sequence between streams; the tail is trimmed afterwards). A
    slot whose context shifted is never copied: its cache is not what evaluating those tokens anew gives."""
    source, shared = None, 0
    for other in slots:
        if other is not slot and not other.shifted and (length := common_prefix(other.tokens, prompt)) > shared:
            source, shared = other, length
    if source is None or shared < common_prefix(slot.tokens, prompt) + COPY_GAIN:
        return
    lc.llama_memory_seq_cp(memory, source.seq_id, slot.seq_id, -1, -1)
    slot.tokens[:] = source.tokens
    slot.shifted = False


def evaluating_start_of(slots: list[Slot], prompt: list[int]) -> bool:
    """Whether a slot is still evaluating a prompt that starts this one with COPY_GAIN tokens more than any
    cache holds now: this one then waits until that start is cached, and copies it."""
    held = max(common_prefix(slot.tokens, prompt) for slot in slots)
    return any(slot.request is not None and slot.request.todo
               and common_prefix(slot.tokens + slot.request.todo, prompt) >= held + COPY_GAIN for slot in slots)


def copy_scored_prefix(memory: object, slots: list[Slot], slot: Slot, prompt: list[int], top: int) -> None:
    """Make `slot`'s cache and saved scores a copy of the other slot's that keeps COPY_GAIN more of the
    scored prompt's start than this slot does (slots.reusable_scores); the tail is trimmed afterwards."""
    source, kept = None, reusable_scores(slot, prompt, top)
    best = kept
    for other in slots:
        if other is not slot and (length := reusable_scores(other, prompt, top)) > best:
            source, best = other, length
    if source is None or best < kept + COPY_GAIN:
        return
    lc.llama_memory_seq_cp(memory, source.seq_id, slot.seq_id, -1, -1)
    slot.tokens[:] = source.tokens
    slot.scored, slot.shifted = source.scored, False


def scoring_start_of(slots: list[Slot], prompt: list[int], top: int) -> bool:
    """Whether a slot is still scoring a prompt that starts this one with COPY_GAIN tokens more than any slot
    has scores saved for: this one then waits until that start is scored, and copies it."""
    held = max(reusable_scores(slot, prompt, top) for slot in slots)
    return any(slot.request is not None and slot.request.todo and slot.request.scoring is not None
               and slot.request.scoring.top >= top
               and common_prefix(slot.request.scoring.prompt, prompt) - 1 >= held + COPY_GAIN for slot in slots)


def start_being_evaluated(slots: list[Slot], request: Request) -> bool:
    """Whether another slot is still evaluating (or scoring) a start of this prompt, to be copied once done."""
    if request.scoring is not None:
        return scoring_start_of(slots, request.prompt, request.scoring.top)
    return request.media is None and evaluating_start_of(slots, request.prompt)
