"""Text to token ids through llama.cpp's tokenizer (shared by the runner and the embedder)."""

from __future__ import annotations

import llama_cpp as lc


def tokenize(vocab: object, text: str, *, add_special: bool = True, parse_special: bool = True) -> list[int]:
    data = text.encode("utf-8")
    size = len(data) + 8
    buf = (lc.llama_token * size)()
    count = lc.llama_tokenize(vocab, data, len(data), buf, size, add_special, parse_special)
    if count < 0:  # the buffer was short: llama.cpp says how many it needs
        size = -count
        buf = (lc.llama_token * size)()
        count = lc.llama_tokenize(vocab, data, len(data), buf, size, add_special, parse_special)
    return list(buf[:count])
