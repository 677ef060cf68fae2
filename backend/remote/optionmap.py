"""ember's generation parameters as the fields of an OpenAI-compatible request.

OpenAI's API has a handful of sampling fields; the engines that serve it (vLLM, SGLang, llama.cpp's
server, llama-cpp-python's) accept more as extra body fields, each under its own name. Which
extras a server takes is known from its flavour (what `/v1/models` says owns the models); a
parameter that has no field on that server is returned as ignored, so the caller can say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ember parameter -> OpenAI field, understood by every OpenAI-compatible server.
STANDARD: dict[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "num_predict": "max_tokens",
    "seed": "seed",
    "stop": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}

# Extra body fields per server flavour (the engines' own names for ember's parameters).
_VLLM = {"top_k": "top_k", "min_p": "min_p", "repeat_penalty": "repetition_penalty"}
EXTRAS: dict[str, dict[str, str]] = {
    "vllm": _VLLM,
    "sglang": _VLLM,
    "llama.cpp": {"top_k": "top_k", "min_p": "min_p", "repeat_penalty": "repeat_penalty",
                  "repeat_last_n": "repeat_last_n", "typical_p": "typical_p", "mirostat": "mirostat",
                  "mirostat_tau": "mirostat_tau", "mirostat_eta": "mirostat_eta"},
    "llama-cpp-python": {"top_k": "top_k", "min_p": "min_p", "repeat_penalty": "repeat_penalty",
                         "mirostat": "mirostat_mode", "mirostat_tau": "mirostat_tau",
                         "mirostat_eta": "mirostat_eta"},
}

# Settings of a loaded model, not of a request: the server's operator chooses them at start-up.
SERVER_SIDE = frozenset({"num_ctx", "num_batch", "num_thread", "num_gpu", "num_keep", "main_gpu", "use_mmap",
                         "use_mlock"})


@dataclass
class Mapped:
    fields: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # ember parameters this server has no field for


def map_options(options: dict[str, Any], flavour: str = "") -> Mapped:
    """The request fields for `options` on a server of `flavour`, and the parameters it would ignore."""
    names = {**STANDARD, **EXTRAS.get(flavour, {})}
    result = Mapped()
    for name, value in options.items():
        if value is None:
            continue
        if name == "num_predict" and int(value) < 0:  # -1 / -2: until done, the server's default
            continue
        if name == "seed" and int(value) < 0:  # -1: a new seed each time, the server's default
            continue
        target = names.get(name)
        if target is None:
            result.ignored.append(name)
            continue
        result.fields[target] = list(value) if isinstance(value, (list, tuple)) else value
    return result


def why_ignored(name: str, server: str) -> str:
    """One line saying that `name` had no effect on `server`, and what to do instead."""
    if name in SERVER_SIDE:
        return f"{name} is not applied by {server}: it is set when the server starts (ask its operator)"
    return f"{name} is not applied by {server}: its OpenAI-compatible API has no field for it"
