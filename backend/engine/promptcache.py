"""Prompts a slot gave up, kept in host memory: more conversations stay cached than there are slots.

When a request takes a slot that holds another conversation, the batch loop saves that sequence's KV
state here first (llama.cpp's per-sequence state copy). A later request that continues a saved prompt
gets it copied back into its slot and evaluates only what is new, as if it had kept a slot of its own.
The oldest saved prompts go when the cache would pass its budget. Images are never saved (their
embeddings are not tokens a later prompt could match).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field

import llama_cpp as lc
from ember.backend.engine.slots import Slot, common_prefix, forget, goes_on

BUDGET = 512 << 20  # bytes of host memory for saved prompts
SHORTEST = 16  # tokens: a shorter prompt costs less to evaluate again than to copy


@dataclass(eq=False)
class SavedPrompt:
    tokens: list[int]
    state: ctypes.Array[ctypes.c_uint8]
    shifted: bool = False  # the slot's context had shifted (backend.engine.slots.Slot.shifted)

    @property
    def size(self) -> int:
        return len(self.state)


@dataclass
class PromptCache:
    budget: int = BUDGET
    saved: list[SavedPrompt] = field(default_factory=list)  # the longest out of a slot first

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.saved)

    def save(self, ctx: lc.llama_context_p, slot: Slot) -> None:
        """Copy the slot's sequence here before something else overwrites it."""
        tokens = slot.tokens
        if len(tokens) < SHORTEST or min(tokens) < 0:
            return
        size = lc.llama_state_seq_get_size(ctx, slot.seq_id)
        if not 0 < size <= self.budget:
            return
        state = (ctypes.c_uint8 * size)()
        if lc.llama_state_seq_get_data(ctx, state, size, slot.seq_id) == 0:
            return
        # a saved prompt this one goes on from is no longer needed
        self.saved = [entry for entry in self.saved if common_prefix(entry.tokens, tokens) < len(entry.tokens)]
        self.saved.append(SavedPrompt(list(tokens), state, slot.shifted))
        while self.size > self.budget:
            del self.saved[0]

    def take(self, prompt: list[int], better_than: int) -> SavedPrompt | None:
        """The saved prompt that `prompt` continues (or asks again), sharing more than `better_than`
        tokens with it; it leaves the cache (it goes back into a slot)."""
        best, best_shared = None, better_than
        for entry in self.saved:
            if (shared := goes_on(entry.tokens, prompt)) > best_shared:
                best, best_shared = entry, shared
        if best is not None:
            self.saved.remove(best)
        return best

    def restore(self, ctx: lc.llama_context_p, memory: object, slot: Slot, entry: SavedPrompt) -> None:
        """Put a saved prompt into the slot, in place of what it holds (left empty if llama.cpp refuses)."""
        forget(memory, slot)
        if lc.llama_state_seq_set_data(ctx, entry.state, entry.size, slot.seq_id) == 0:
            forget(memory, slot)
            return
        slot.tokens.extend(entry.tokens)
        slot.shifted = entry.shifted

    def clear(self) -> None:
        self.saved.clear()
