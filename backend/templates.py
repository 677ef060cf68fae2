"""Turn chat messages into a prompt with the model's own Jinja chat template, in a sandbox.

GGUF files come from strangers: their templates run in Jinja's immutable sandbox, so a template
that reaches for `__class__`, `__globals__` or mutates data fails instead of running code.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from functools import lru_cache

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from backend.errors import EmberError
from backend.types import Message

# What a model with no template of its own gets: a plain transcript that base models continue.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n\n"
    "{% elif m.role == 'user' %}User: {{ m.content }}\n"
    "{% else %}Assistant: {{ m.content }}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


class TemplateError(EmberError):
    status = 400


def _raise(message: str) -> None:
    raise TemplateError(f"the chat template refused the conversation: {message}")


def _strftime_now(fmt: str) -> str:
    return _dt.datetime.now().strftime(fmt)


@lru_cache(maxsize=16)
def compile_template(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
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
) -> str:
    """Render `messages` into the prompt text the model expects."""
    compiled = compile_template(template or FALLBACK_TEMPLATE)
    data = [m.to_template() for m in messages]
    try:
        return compiled.render(
            messages=data,
            add_generation_prompt=add_generation_prompt,
            bos_token=bos_token,
            eos_token=eos_token,
            tools=tools or None,
        )
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"the chat template tried an unsafe operation and was stopped: {exc}")
    except TemplateError:
        raise
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise TemplateError(f"the chat template failed to render: {exc}")
