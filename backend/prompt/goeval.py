"""Run a parsed Go template over plain dicts and lists (no Python attribute is ever reachable)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from ember.backend.errors import TemplateError
from ember.backend.prompt.budget import RenderBudget
from ember.backend.prompt.goparse import (
    FUNCTION_NAMES,
    Action,
    Branch,
    Chain,
    Field,
    Func,
    Literal,
    Loop,
    Node,
    Pipe,
    Text,
    Var,
)


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def truth(value: object) -> bool:
    """Go's notion of a true value: not false, zero, nil or empty."""
    if value is None:
        return False
    if isinstance(value, (bool, int, float, str, list, tuple, dict)):
        return bool(value)
    return True


def to_text(value: object) -> str:
    """How Go prints a value with %v."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, dict) or isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) for v in value):
        return go_json(value)  # Ollama's tools, tool calls and arguments print themselves as JSON
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(to_text(v) for v in value) + "]"
    return str(value)


_HTML_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                               "\u2029": "\\u2029"})


def go_json(value: object) -> str:
    """JSON as Go's json.Marshal writes it: compact, with <, > and & escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_HTML_ESCAPES)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _get(value: object, name: str) -> object:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TemplateError(f"template: can't evaluate field {name} in {type(value).__name__} {to_text(value)!r}")
    for key in (name, _snake(name), name.lower()):
        if key in value:
            return value[key]
    return None  # Ollama runs templates with missingkey=zero


def _compare(a: object, b: object) -> int:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    raise TemplateError(f"template: incompatible types for comparison: {to_text(a)!r} and {to_text(b)!r}")


def _eq(a: object, *others: object) -> bool:
    if not others:
        raise TemplateError("template: eq needs at least two arguments")
    return any(isinstance(a, bool) == isinstance(b, bool) and a == b for b in others)


def _index(value: object, *keys: object) -> object:
    for key in keys:
        try:
            value = value[key]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            if isinstance(value, dict):
                return None
            raise TemplateError(f"template: index {to_text(key)} out of range or of the wrong type")
    return value


def _slice(value: object, *bounds: object) -> object:
    ints = [b for b in bounds if isinstance(b, int)]
    if not isinstance(value, (str, list, tuple)) or len(ints) != len(bounds):
        raise TemplateError("template: slice needs a string or list and integer bounds")
    return value[ints[0] if ints else None : ints[1] if len(ints) > 1 else None]


def _len(value: object) -> int:
    if not isinstance(value, (str, list, tuple, dict)):
        raise TemplateError(f"template: len of {to_text(value)!r}")
    return len(value)


def _texts(budget: RenderBudget, args: Sequence[object]) -> list[str]:
    texts = [to_text(a) for a in args]
    budget.length(sum(map(len, texts)) + len(texts))
    return texts


def _sprint(budget: RenderBudget, *args: object) -> str:
    texts = _texts(budget, args)
    out = []
    for i, (arg, text) in enumerate(zip(args, texts)):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(text)
    return "".join(out)


def _sprintln(budget: RenderBudget, *args: object) -> str:
    return " ".join(_texts(budget, args)) + "\n"


_VERB = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d+))?([a-zA-Z%])")


def _sprintf(budget: RenderBudget, fmt: str, *args: object) -> str:
    if not isinstance(fmt, str):
        raise TemplateError("template: printf needs a format string")
    budget.widths(fmt)
    budget.length(len(fmt) + sum(map(len, _texts(budget, args))))
    values = list(args)

    def one(match: re.Match[str]) -> str:
        flags, width, precision, verb = match.groups()
        if verb == "%":
            return "%"
        if not values:
            return f"%!{verb}(MISSING)"
        value = values.pop(0)
        if verb in "vs":
            text = to_text(value)
        elif verb == "q":
            text = json.dumps(to_text(value), ensure_ascii=False)
        elif verb == "t":
            text = to_text(bool(value))
        elif verb in "dxXob" and isinstance(value, int):
            text = format(value, {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb])
        elif verb in "feEgG" and isinstance(value, (int, float)):
            text = format(value, f".{precision or 6}{verb}" if verb != "g" or precision else "g")
        else:
            text = f"%!{verb}({to_text(value)})"
        return text.ljust(int(width)) if "-" in flags and width else text.rjust(int(width or 0))

    return _VERB.sub(one, fmt)


_FUNCTIONS: dict[str, Any] = {
    "not": lambda v: not truth(v),
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": lambda a, b: _compare(a, b) < 0,
    "le": lambda a, b: _compare(a, b) <= 0,
    "gt": lambda a, b: _compare(a, b) > 0,
    "ge": lambda a, b: _compare(a, b) >= 0,
    "len": _len,
    "index": _index,
    "slice": _slice,
    "print": _sprint,
    "println": _sprintln,
    "printf": _sprintf,
    "json": go_json,
    "and": None,  # short-circuit: handled by the evaluator
    "or": None,
}


class _Evaluator:
    def __init__(self, data: dict[str, object], budget: RenderBudget) -> None:
        self.vars: list[tuple[str, object]] = [("$", data)]
        self.out: list[str] = []
        self.budget = budget

    def run(self, nodes: Sequence[Node], dot: object) -> None:
        mark = len(self.vars)
        self.budget.enter()
        try:
            for node in nodes:
                self.node(node, dot)
        finally:
            self.budget.leave()
            del self.vars[mark:]

    def emit(self, text: str) -> None:
        self.budget.emit(len(text))
        self.out.append(text)

    def node(self, node: Node, dot: object) -> None:
        if isinstance(node, Text):
            self.emit(node.text)
        elif isinstance(node, Action):
            value = self.pipe(node.pipe, dot)
            if not node.pipe.declare:
                self.emit(to_text(value))
        elif isinstance(node, Branch):
            self.branch(node, dot)
        elif isinstance(node, Loop):
            raise _Break() if node.kind == "break" else _Continue()

    def branch(self, node: Branch, dot: object) -> None:
        mark = len(self.vars)
        try:
            if node.kind == "range":
                self.range(node, dot)
                return
            value = self.pipe(node.pipe, dot)
            if truth(value):
                self.run(node.body, value if node.kind == "with" else dot)
            else:
                self.run(node.orelse, dot)
        finally:
            del self.vars[mark:]

    def range(self, node: Branch, dot: object) -> None:
        pipe = node.pipe
        value = self.pipe(Pipe(pipe.commands), dot)
        items: Iterable[tuple[object, object]]
        if value is None:
            items = ()
        elif isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value, key=str)]
        elif isinstance(value, (list, tuple)):
            items = enumerate(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            items = ((i, i) for i in range(value))
        else:
            raise TemplateError(f"template: range can't iterate over {to_text(value)!r}")
        if not (len(value) if isinstance(value, (dict, list, tuple)) else value is not None and value > 0):
            self.run(node.orelse, dot)
            return
        for key, item in items:
            self.budget.step()
            mark = len(self.vars)
            if len(pipe.declare) == 2:
                self.vars += [(pipe.declare[0], key), (pipe.declare[1], item)]
            elif pipe.declare:
                self.vars.append((pipe.declare[0], item))
            try:
                self.run(node.body, item)
            except _Break:
                break
            except _Continue:
                continue
            finally:
                del self.vars[mark:]

    def lookup(self, name: str) -> object:
        for key, value in reversed(self.vars):
            if key == name:
                return value
        raise TemplateError(f"template: undefined variable {name}")

    def pipe(self, pipe: Pipe, dot: object) -> object:
        value: object = None
        for i, command in enumerate(pipe.commands):
            value = self.command(command, dot, value, piped=i > 0)
        if pipe.declare:
            name = pipe.declare[-1]
            if pipe.assign:
                index = max(i for i, (key, _) in enumerate(self.vars) if key == name)
                self.vars[index] = (name, value)
            else:
                self.vars.append((name, value))
        return value

    def command(self, args: list[Node], dot: object, previous: object, *, piped: bool) -> object:
        head = args[0]
        if isinstance(head, Func):
            rest = list(args[1:])
            if head.name in ("and", "or"):
                values: list[Callable[[], object]] = [partial(self.arg, n, dot) for n in rest]
                if piped:
                    values.append(lambda: previous)
                if not values:
                    raise TemplateError(f"template: {head.name} needs at least one argument")
                result: object = None
                for thunk in values:
                    result = thunk()
                    if truth(result) != (head.name == "and"):
                        return result
                return result
            call_args = [self.arg(n, dot) for n in rest] + ([previous] if piped else [])
            if head.name in _SIZED:
                call_args.insert(0, self.budget)
            self.budget.tick()
            try:
                return _FUNCTIONS[head.name](*call_args)
            except TypeError:
                raise TemplateError(f"template: wrong number of arguments for {head.name}")
        if len(args) > 1 or piped:
            raise TemplateError("template: can't give arguments to a value that is not a function")
        return self.arg(head, dot)

    def arg(self, node: Node, dot: object) -> object:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Field):
            value, chain = dot, node.chain
        elif isinstance(node, Var):
            value, chain = self.lookup(node.name), node.chain
        elif isinstance(node, Chain):
            value, chain = self.pipe(node.node, dot), node.chain
        else:
            raise TemplateError(f"template: {node.name} is a function; call it in parentheses")
        for name in chain:
            value = _get(value, name)
        return value


_SIZED = frozenset({"print", "println", "printf"})  # these take the budget first
assert set(_FUNCTIONS) == FUNCTION_NAMES, "the parser and the evaluator must know the same functions"


def execute(nodes: Sequence[Node], data: dict[str, object], budget: RenderBudget | None = None) -> str:
    """The text `nodes` produce with `data` as both `.` and `$`, within `budget`."""
    evaluator = _Evaluator(data, budget or RenderBudget("the template"))
    try:
        evaluator.run(nodes, data)
    except (_Break, _Continue):
        raise TemplateError("template: break or continue outside range")
    except RecursionError:
        raise evaluator.budget.stop("it nested too deeply")
    except (ArithmeticError, ValueError) as exc:
        raise TemplateError(f"template: {exc}")
    return "".join(evaluator.out)
