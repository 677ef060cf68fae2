"""The one table of generation parameters, shared by Modelfiles, the API, the CLI and the app.

Precedence when a request runs: the request's options > the model's Modelfile > these defaults.
"""

from __future__ import annotations

import difflib
import logging
import math
from dataclasses import dataclass, fields

from ember.backend.errors import InvalidRequest


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: type  # int, float, bool or str
    default: object
    minimum: float | None
    maximum: float | None
    help: str
    llama: str  # what it becomes in llama.cpp
    repeatable: bool = False


PARAMETERS: dict[str, Parameter] = {
    p.name: p
    for p in (
        Parameter("num_ctx", int, 4096, 16, 1 << 20, "context window in tokens", "llama_context_params.n_ctx"),
        Parameter("num_predict", int, -1, -2, 1 << 20, "most tokens to generate (-1: until done)", "generation loop limit"),
        Parameter("temperature", float, 0.8, 0.0, 100.0, "randomness; 0 always picks the likeliest token", "llama_sampler_init_temp"),
        Parameter("top_k", int, 40, 0, 1 << 20, "sample among the k likeliest tokens (0: all)", "llama_sampler_init_top_k"),
        Parameter("top_p", float, 0.9, 0.0, 1.0, "sample from the smallest set whose probability reaches p", "llama_sampler_init_top_p"),
        Parameter("min_p", float, 0.0, 0.0, 1.0, "drop tokens below p × the likeliest token's probability", "llama_sampler_init_min_p"),
        Parameter("typical_p", float, 1.0, 0.0, 1.0, "locally typical sampling (1: off)", "llama_sampler_init_typical"),
        Parameter("repeat_penalty", float, 1.1, 0.0, 10.0, "penalise tokens seen in the last repeat_last_n", "llama_sampler_init_penalties"),
        Parameter("repeat_last_n", int, 64, -1, 1 << 20, "how far back repeat_penalty looks (-1: num_ctx)", "llama_sampler_init_penalties"),
        Parameter("presence_penalty", float, 0.0, -2.0, 2.0, "penalise tokens that appeared at all", "llama_sampler_init_penalties"),
        Parameter("frequency_penalty", float, 0.0, -2.0, 2.0, "penalise tokens by how often they appeared", "llama_sampler_init_penalties"),
        Parameter("mirostat", int, 0, 0, 2, "Mirostat sampling (0 off, 1 v1, 2 v2)", "llama_sampler_init_mirostat[_v2]"),
        Parameter("mirostat_tau", float, 5.0, 0.0, 100.0, "Mirostat target entropy", "mirostat tau"),
        Parameter("mirostat_eta", float, 0.1, 0.0, 1.0, "Mirostat learning rate", "mirostat eta"),
        Parameter("seed", int, -1, -1, (1 << 32) - 1, "random seed (-1: a new one each time)", "llama_sampler_init_dist"),
        Parameter("stop", str, (), None, None, "stop generating at this text (repeatable)", "checked on the detokenised stream", repeatable=True),
        Parameter("num_draft", int, 16, 0, 256, "most tokens drafted ahead from the prompt and answer (prompt lookup), checked in the same step (0: off)", "extra rows of llama_decode"),
        Parameter("num_keep", int, 4, -1, 1 << 20, "tokens kept from the start when the context shifts", "context shift"),
        Parameter("num_batch", int, 512, 1, 1 << 16, "prompt tokens evaluated per batch", "llama_context_params.n_batch"),
        Parameter("num_thread", int, 0, 0, 1024, "CPU threads (0: one a physical core, fewer while other processes keep them busy)", "llama_context_params.n_threads"),
        Parameter("num_gpu", int, -1, -1, 1 << 16, "layers offloaded to the GPU (-1: as many as fit)", "llama_model_params.n_gpu_layers"),
        Parameter("main_gpu", int, 0, 0, 1 << 10, "the GPU that holds the model when it is on one", "llama_model_params.main_gpu"),
        Parameter("use_mmap", bool, True, None, None, "map the weights from disk instead of reading them in", "llama_model_params.use_mmap"),
        Parameter("use_mlock", bool, False, None, None, "lock the weights in memory so they are never swapped out", "llama_model_params.use_mlock"),
    )
}

# Options Ollama still accepts but no longer uses (or llama.cpp no longer has): taken, logged, not applied.
RETIRED = frozenset({"numa", "low_vram", "f16_kv", "vocab_only", "logits_all", "penalize_newline", "tfs_z"})
log = logging.getLogger("ember.parameters")


def suggest(name: str) -> str:
    close = difflib.get_close_matches(name, PARAMETERS, n=1)
    return f' — did you mean "{close[0]}"?' if close else ""


def coerce(name: str, value: object) -> object:
    """Check one value against the table and return it with the parameter's type."""
    param = PARAMETERS.get(name)
    if param is None:
        raise InvalidRequest(f'unknown parameter "{name}"{suggest(name)}')
    if param.repeatable:
        items = value if isinstance(value, (list, tuple)) else [value]
        if not all(isinstance(v, str) for v in items):
            raise InvalidRequest(f"{name} expects text or a list of text, got {value!r}")
        return tuple(items)
    kind_name = {int: "an integer", float: "a number", bool: "true or false", str: "text"}[param.kind]
    try:
        if param.kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false"):
                    raise ValueError
                result: object = value.lower() == "true"
            else:
                result = bool(value)
        elif param.kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            result = int(value)  # type: ignore[call-overload]
        elif param.kind is float:
            if isinstance(value, bool):
                raise ValueError
            result = float(value)  # type: ignore[arg-type]
            if not math.isfinite(result):
                raise ValueError
        else:
            result = str(value)
    except (TypeError, ValueError):
        raise InvalidRequest(f'{name} expects {kind_name}, got "{value}"') from None
    if param.minimum is not None and result < param.minimum:  # type: ignore[operator]
        raise InvalidRequest(f"{name} must be at least {_bound(param.minimum)}, got {result}")
    if param.maximum is not None and result > param.maximum:  # type: ignore[operator]
        raise InvalidRequest(f"{name} must be at most {_bound(param.maximum)}, got {result}")
    return result


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"  # 1048576, not 1.04858e+06


def validate(options: dict[str, object] | None) -> dict[str, object]:
    """The options with their parameters' types; a retired option of Ollama's is dropped with a warning."""
    checked = {}
    for name, value in (options or {}).items():
        if name in RETIRED:
            log.warning('option "%s" is accepted for compatibility with Ollama but has no effect', name)
        elif value is not None:
            checked[name] = coerce(name, value)
    return checked


DEFAULTS: dict[str, object] = {name: param.default for name, param in PARAMETERS.items()}


@dataclass(frozen=True)
class Options:
    """Every parameter with its effective value for one request; built by `Options.merge`, which takes
    each default from PARAMETERS."""

    num_ctx: int
    num_predict: int
    temperature: float
    top_k: int
    top_p: float
    min_p: float
    typical_p: float
    repeat_penalty: float
    repeat_last_n: int
    presence_penalty: float
    frequency_penalty: float
    mirostat: int
    mirostat_tau: float
    mirostat_eta: float
    seed: int
    stop: tuple[str, ...]
    num_draft: int
    num_keep: int
    num_batch: int
    num_thread: int
    num_gpu: int
    main_gpu: int
    use_mmap: bool
    use_mlock: bool

    @classmethod
    def merge(cls, *layers: dict[str, object] | None) -> Options:
        """Validate each layer once; later layers win: `Options.merge(model_params, request_options)`."""
        values = dict(DEFAULTS)
        for layer in layers:
            values.update(validate(layer))
        return cls(**values)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


assert [f.name for f in fields(Options)] == list(PARAMETERS), "Options and PARAMETERS must agree"
