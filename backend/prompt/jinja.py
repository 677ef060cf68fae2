"""Turn chat messages into a prompt with the model's own Jinja chat template, in a sandbox.

GGUF files come from strangers: their templates run in Jinja's immutable sandbox, so a template
that reaches for `__class__`, `__globals__` or mutates data fails instead of running code. The
sandbox bounds neither memory nor time, so every rendering here also runs under a RenderBudget
(backend/prompt/budget.py): each loop step, call and output piece checks the deadline, and every
operator, filter and string method that could build a huge number or string is checked first.
"""

from __future__ import annotations

import datetime as _dt
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache, wraps
from typing import Any

import jinja2
from ember.backend.errors import TemplateError
from ember.backend.prompt.budget import LIMITS, RenderBudget, RenderLimits
from ember.backend.types import Message
from jinja2 import nodes
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum
from jinja2.visitor import NodeTransformer

# What a model with no template of its own gets: a plain transcript that base models continue.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n\n"
    "{% elif m.role == 'user' %}User: {{ m.content }}\n"
    "{% else %}Assistant: {{ m.content }}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)

WHO = "the chat template"
MAX_JSON_INDENT = 64

_local = threading.local()


def _budget() -> RenderBudget:
    budget = getattr(_local, "budget", None)
    if budget is None:  # outside render_chat (a test compiling a template): the default limits
        budget = _local.budget = RenderBudget(WHO)
    return budget


class _Guards(NodeTransformer):
    """Route every `for` loop and `~` concatenation through the budget (names a template cannot write)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _guard_call("guard_loop", [node.iter], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _guard_call("guard_concat", [nodes.List(node.nodes, lineno=node.lineno)], node.lineno)


def _guard_call(name: str, args: list[nodes.Node], lineno: int) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(name, lineno=lineno), args, [], None, None, lineno=lineno)


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def _generate(self, source: nodes.Template, name: str | None, filename: str | None,
                  defer_init: bool = False) -> str:
        return super()._generate(_Guards().visit(source), name, filename, defer_init)

    def guard_loop(self, iterable: Iterable[Any]) -> Iterator[Any]:
        budget = _budget()
        for item in iterable:
            budget.step()
            yield item

    def guard_concat(self, parts: list[Any]) -> str:
        texts = [p if isinstance(p, str) else str(p) for p in parts]
        _budget().length(sum(map(len, texts)))
        return "".join(texts)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
        budget.tick()
        if operator == "**":
            budget.power(left, right)
        elif operator == "*":
            budget.product(left, right)
        elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            budget.length(len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            budget.widths(left, right)
        return budget.check(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        budget = _budget()
        target = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(budget, owner, getattr(target, "__name__", ""), args, kwargs)
        budget.enter()
        try:
            return budget.check(super().call(__context, __obj, *args, **kwargs))
        finally:
            budget.leave()


def _check_str_method(budget: RenderBudget, text: str, name: str, args: tuple, kwargs: dict) -> None:
    numbers = [a for a in (*args, *kwargs.values()) if isinstance(a, int) and not isinstance(a, bool)]
    if name in ("format", "format_map"):
        budget.widths(text, args)
    elif name in ("center", "ljust", "rjust", "zfill"):
        budget.length(max(numbers, default=0))
    elif name == "expandtabs":
        budget.length(len(text) + max(numbers, default=8) * text.count("\t"))
    elif name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        budget.length(len(text) + _occurrences(text, args[0]) * max(len(args[1]) - len(args[0]), 0))
    elif name == "join" and args:
        budget.length(_joined_length(text, args[0]))


def _occurrences(text: str, old: str) -> int:
    return text.count(old) if old else len(text) + 1


def _joined_length(separator: str, items: object) -> int:
    if not isinstance(items, (list, tuple, str)):
        return 0  # a generator: its items pass through the loop guard or a filter's own check
    return sum(len(i) if isinstance(i, str) else 0 for i in items) + len(separator) * len(items)


def _guarded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose arguments are checked before it runs and whose result is checked after."""
    passes_state = getattr(function, "jinja_pass_arg", None) is not None

    @wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.tick()
        values = args[1:] if passes_state else args
        _check_filter(budget, name, values, kwargs)
        return budget.check(function(*args, **kwargs))

    return guarded


_SIZING_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice"})


def _check_filter(budget: RenderBudget, name: str, values: tuple, kwargs: dict) -> None:
    if not values:
        return
    value, rest = values[0], (*values[1:], *kwargs.values())
    if name in _SIZING_FILTERS:
        for arg in rest:
            if isinstance(arg, int) and not isinstance(arg, bool):
                budget.length(arg)
    text = value if isinstance(value, str) else None
    if name == "indent" and text is not None:
        width = rest[0] if rest else 4
        width_chars = len(width) if isinstance(width, str) else int(width)
        budget.length(len(text) + width_chars * (text.count("\n") + 1))
    elif name == "replace" and text is not None and len(rest) >= 2:
        old, new = str(rest[0]), str(rest[1])
        budget.length(len(text) + _occurrences(text, old) * max(len(new) - len(old), 0))
    elif name == "format" and text is not None:
        budget.widths(text, tuple(values[1:]))
    elif name == "join":
        separator = rest[0] if rest and isinstance(rest[0], str) else ""
        budget.length(_joined_length(separator, value))
    elif name in ("center", "wordwrap", "truncate") and text is not None:
        budget.length(len(text) + (int(rest[0]) if rest and isinstance(rest[0], int) else 80))
    elif name == "slice" and rest and isinstance(rest[0], int):
        budget.length(rest[0] * 64)  # each slice is a list


def _range(*args: int) -> range:
    items = range(*args)
    if len(items) > MAX_RANGE:
        raise _budget().stop(f"it asked for a range of {len(items)} numbers (at most {MAX_RANGE})")
    return items


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    budget = _budget()
    if not all(isinstance(v, int) for v in (n, min, max)):
        raise TemplateError(f"{WHO} failed to render: lipsum takes whole numbers")
    budget.length(n * max * 12)
    return generate_lorem_ipsum(n, html, min, max)


def _raise(message: str) -> None:
    raise TemplateError(f"{WHO} refused the conversation: {message}")


def _strftime_now(fmt: str) -> str:
    _budget().widths(str(fmt))
    return _dt.datetime.now().strftime(fmt)


def _tojson(value: object, indent: int | None = None) -> str:
    if indent is not None and (not isinstance(indent, int) or not 0 <= indent <= MAX_JSON_INDENT):
        raise _budget().stop(f"tojson's indent must be a number from 0 to {MAX_JSON_INDENT}")
    return json.dumps(value, indent=indent, ensure_ascii=False)


@lru_cache(maxsize=16)
def compile_template(source: str) -> jinja2.Template:
    env = _Sandbox(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["tojson"] = _tojson
    env.filters = {name: _guarded_filter(name, f) for name, f in env.filters.items()}
    env.globals["range"] = _range
    env.globals["lipsum"] = _lipsum
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = _strftime_now
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{WHO} does not parse (line {exc.lineno}): {exc.message}")
    except (RecursionError, SyntaxError, MemoryError):
        raise TemplateError(f"{WHO} does not parse: it nests blocks or expressions too deeply")


def render_chat(
    template: str | None,
    messages: Sequence[Message],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    tools: list[dict] | None = None,
    think: bool | str | None = None,
    limits: RenderLimits = LIMITS,
    cancel: threading.Event | None = None,
) -> str:
    """Render `messages` into the prompt text the model expects, within `limits`.

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
    budget = _local.budget = RenderBudget(WHO, limits, cancel)
    try:
        parts = []
        for part in compiled.generate(messages=data, add_generation_prompt=add_generation_prompt,
                                      bos_token=bos_token, eos_token=eos_token, tools=tools or None,
                                      **switches):
            budget.emit(len(part))
            budget.tick()
            parts.append(part)
        return "".join(parts)
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"{WHO} tried an unsafe operation and was stopped: {exc}")
    except TemplateError:
        raise
    except RecursionError:
        raise budget.stop("it nested too deeply")
    except OverflowError:
        raise budget.stop("it made a number too large for a float")
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError, KeyError, IndexError,
            ArithmeticError) as exc:
        raise TemplateError(f"{WHO} failed to render: {exc}")
    finally:
        _local.budget = None
