"""The batch loop's two steps for a request with images (backend.engine.vision).

Plain llama.cpp calls only: the multimodal library is loaded by the projector, never for a text model.
"""

from __future__ import annotations

import llama_cpp as lc
from ember.backend.engine.slots import Request, Slot, common_prefix, forget


def reuse_media_prefix(memory: object, slot: Slot, request: Request) -> list[int]:
    """`slots.reuse_prefix` for a prompt with images: never keep part of an image."""
    media = request.media
    assert media is not None
    prompt = media.tokens
    keep = min(common_prefix(slot.tokens, prompt), len(prompt) - 1)
    while 0 < keep < len(prompt) and prompt[keep - 1] < 0 and prompt[keep] == prompt[keep - 1]:
        keep -= 1
    if keep < len(slot.tokens):
        if not lc.llama_memory_seq_rm(memory, slot.seq_id, keep, -1):
            forget(memory, slot)
            keep = 0
        del slot.tokens[keep:]
    media.spans = [span for span in media.spans if span.start >= keep]
    return prompt[keep:]


def next_part(lctx: object, slot: Slot, room: int, n_batch: int) -> list[int]:
    """The text tokens to feed next; an image at the front of what is left is evaluated first."""
    request = slot.request
    assert request is not None and request.media is not None
    todo = request.todo
    while todo and todo[0] < 0:
        span = request.media.spans.pop(0)
        request.media.projector.evaluate(lctx, span, len(slot.tokens), slot.seq_id, n_batch)
        slot.tokens.extend(todo[: span.count])
        del todo[: span.count]
    part = todo[:room]
    text = next((i for i, t in enumerate(part) if t < 0), len(part))
    return part[:text]
