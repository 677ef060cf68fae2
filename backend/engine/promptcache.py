"""Prompts a slot gave up, kept in host memory: more conversations stay cached than there are slots.

When a request takes a slot that holds another conversation, the batch loop saves that sequence's KV
state here first (llama.cpp's per-sequence state copy). A later request that continues a saved prompt
gets it copied back into its slot and evaluates only what is new, as if it had kept a slot of its own.
The oldest saved prompts go when the cache would pass its budget. Images are never saved (their
embeddings are not tokens a later prompt could match).

The copy itself is quick (1 ms for 9 MiB), but fresh host memory is not: the first touch of each page
costs more than the copy (25 ms for those 9 MiB, on a virtual machine here), and every request that
waits on the save waits on that. So the buffer of a prompt that went back into a slot is kept for the
next save (SPARE bytes of them at most), and concurrent conversations taking each other's slots no
longer wait on page faults.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field

import llama_cpp as lc
from ember.backend.engine.slots import Slot, common_prefix, forget, goes_on

BUDGET = 512 << 20  # bytes of host memory for saved prompts
SHORTEST = 16  # tokens: a shorter prompt costs less to evaluate again than to copy
SPARE = 64 << 20  # bytes of buffers kept for the next saves, once their prompts went back into a slot
LOOSEST = 2  # a kept buffer holds a state this many times smaller at least, else a new one is made


Buffer = ctypes.Array[ctypes.c_uint8]


@dataclass(eq=False)
class SavedPrompt:
    tokens: list[int]
    state: Buffer  # a kept buffer may be larger than the state it holds
    used: int  # bytes of the state
    shifted: bool = False  # the slot's context had shifted (backend.engine.slots.Slot.shifted)

    @property
    def size(self) -> int:
        """The host memory it takes."""
        return len(self.state)


@dataclass
class PromptCache:
    budget: int = BUDGET
    saved: list[SavedPrompt] = field(default_factory=list)  # the longest out of a slot first
    spare: list[Buffer] = field(default_factory=list)  # buffers of prompts put back, the latest last

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
        state = self._buffer(size)
        if lc.llama_state_seq_get_data(ctx, state, size, slot.seq_id) == 0:
            self._keep(state)
            return
        kept = []
        for entry in self.saved:  # a saved prompt this one goes on from is no longer needed
            if common_prefix(entry.tokens, tokens) < len(entry.tokens):
                kept.append(entry)
            else:
                self._keep(entry.state)
        self.saved = kept
        self.saved.append(SavedPrompt(list(tokens), state, size, slot.shifted))
        while self.size > self.budget:
            self._keep(self.saved.pop(0).state)

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
        restored = lc.llama_state_seq_set_data(ctx, entry.state, entry.used, slot.seq_id) != 0
        self._keep(entry.state)
        if not restored:
            forget(memory, slot)
            return
        slot.tokens.extend(entry.tokens)
        slot.shifted = entry.shifted

    def clear(self) -> None:
        self.saved.clear()
        self.spare.clear()

    def _buffer(self, size: int) -> Buffer:
        """A kept buffer that holds `size` bytes without wasting most of itself, else a new one."""
        fits = [buffer for buffer in self.spare if size <= len(buffer) <= LOOSEST * size]
        if not fits:
            return (ctypes.c_uint8 * size)()
        chosen = min(fits, key=len)
        self.spare.remove(chosen)
        return chosen

    def _keep(self, buffer: Buffer) -> None:
        """Keep a buffer no prompt holds any more for a later save; the oldest go past SPARE bytes."""
        if len(buffer) > SPARE:
            return
        self.spare.append(buffer)
        while sum(len(kept) for kept in self.spare) > SPARE:
            del self.spare[0]
