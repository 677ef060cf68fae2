"""Turn chat messages into a prompt with the model's own Jinja chat template, in a sandbox.

GGUF files come from strangers: their templates run in Jinja's immutable sandbox, so a template
that reaches for `__class__`, `__globals__` or mutates data fails instead of running code. The
sandbox does not bound memory or time, so this one also refuses huge `*` and `**` results, caps
the iterations of `range` in one rendering and stops a prompt that grows past MAX_PROMPT.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import jinja2
from ember.backend.errors import TemplateError
from ember.backend.types import Message
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

# What a model with no template of its own gets: a plain transcript that base models continue.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n\n"
    "{% elif m.role == 'user' %}User: {{ m.content }}\n"
    "{% else %}Assistant: {{ m.content }}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


MAX_PROMPT = 16 << 20  # characters one rendering may produce
MAX_ITERATIONS = 2_000_000  # range() items one rendering may ask for, all loops together

_budget = threading.local()


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise jinja2.exceptions.SecurityError(f"the exponent {right} is too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_PROMPT:
                    raise jinja2.exceptions.SecurityError(f"a sequence repeated {n} times is too large")
        return super().call_binop(context, operator, left, right)


def _range(*args: int) -> range:
    items = safe_range(*args)
    _budget.left = getattr(_budget, "left", MAX_ITERATIONS) - len(items)
    if _budget.left < 0:
        raise jinja2.exceptions.SecurityError(f"its loops ran past {MAX_ITERATIONS} iterations")
    return items


def _raise(message: str) -> None:
    raise TemplateError(f"the chat template refused the conversation: {message}")


def _strftime_now(fmt: str) -> str:
    return _dt.datetime.now().strftime(fmt)


@lru_cache(maxsize=16)
def compile_template(source: str) -> jinja2.Template:
    env = _Sandbox(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.globals["range"] = _range
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = _strftime_now
    env.filters["tojson"] = _tojson
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"the chat template does not parse (line {exc.lineno}): {exc.message}")


def _tojson(value: object, indent: int | None = None) -> str:
    import json

    return json.dumps(value, indent=indent, ensure_ascii=False)


def render_chat(
    template: str | None,
    messages: Sequence[Message],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    tools: list[dict] | None = None,
    think: bool | str | None = None,
) -> str:
    """Render `messages` into the prompt text the model expects.

    `think` sets the switches GGUF templates read: `enable_thinking` (qwen3, SmolLM3) and, for a level,
    `reasoning_effort` (gpt-oss); None leaves them undefined, so the template's default holds.
    """
    compiled = compile_template(template or FALLBACK_TEMPLATE)
    data = [m.to_template() for m in messages]
    switches: dict[str, Any] = {}
    if think is not None:
        switches["enable_thinking"] = bool(think)
    if isinstance(think, str):
        switches["reasoning_effort"] = think
    _budget.left = MAX_ITERATIONS
    try:
        parts, size = [], 0
        for part in compiled.generate(messages=data, add_generation_prompt=add_generation_prompt,
                                      bos_token=bos_token, eos_token=eos_token, tools=tools or None,
                                      **switches):
            size += len(part)
            if size > MAX_PROMPT:
                raise TemplateError(f"the chat template made a prompt of more than {MAX_PROMPT >> 20} M "
                                    "characters and was stopped; it is broken — set a TEMPLATE in a Modelfile")
            parts.append(part)
        return "".join(parts)
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"the chat template tried an unsafe operation and was stopped: {exc}")
    except TemplateError:
        raise
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise TemplateError(f"the chat template failed to render: {exc}")
