"""A start of a prompt that another slot's cache holds is copied from that slot, not evaluated again (one
system prompt for many conversations, the n choices of one request); prompts that arrive together wait for
the first of them to be evaluated, then copy it."""

from __future__ import annotations

import llama_cpp as lc
from ember.backend.engine.slots import Slot, common_prefix

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
