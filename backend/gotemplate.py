"""Ollama's prompt templates: the part of Go's text/template that Ollama's own templates use.

A template is parsed into a small tree and interpreted over plain dicts and lists. Nothing in it
can reach a Python attribute, so a Modelfile TEMPLATE cannot run code. Supported: text, `{{- -}}`
trimming, comments, fields (`.System`, `.Function.Name`), `$` variables (`:=`, `=`), pipelines,
parentheses, `if`/`else if`/`else`, `range` (with `$i, $m :=`, `break`, `continue`), `with`, and the
functions and, or, not, eq, ne, lt, le, gt, ge, len, index, slice, print, printf, println, json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from backend.templates import TemplateError
from backend.types import Message

Node = Any  # one of the dataclasses below

_SPACE = " \t\r\n"
_TOKEN = re.compile(
    r"""(?P<space>[ \t\r\n]+)
    |(?P<close>\}\})
    |(?P<declare>:=)
    |(?P<assign>=)
    |(?P<pipe>\|)
    |(?P<lparen>\()
    |(?P<rparen>\))
    |(?P<comma>,)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<number>[+-]?(?:0[xX][0-9a-fA-F]+|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))
    |(?P<var>\$[A-Za-z0-9_]*)
    |(?P<field>\.[A-Za-z_][A-Za-z0-9_]*)
    |(?P<dot>\.)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)""",
    re.X,
)
_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}


# --- the tree -------------------------------------------------------------------------------

@dataclass
class Text:
    text: str


@dataclass
class Field:  # `.A.B` (an empty chain is `.`)
    chain: tuple[str, ...]


@dataclass
class Var:  # `$x.A`
    name: str
    chain: tuple[str, ...] = ()


@dataclass
class Chain:  # `(pipeline).A`
    node: Node
    chain: tuple[str, ...]


@dataclass
class Literal:
    value: object


@dataclass
class Func:
    name: str


@dataclass
class Pipe:
    commands: list[list[Node]]
    declare: tuple[str, ...] = ()
    assign: bool = False  # `$x = …` rather than `$x := …`


@dataclass
class Action:
    pipe: Pipe


@dataclass
class Branch:  # if / with / range
    kind: str
    pipe: Pipe
    body: list[Node]
    orelse: list[Node] = field(default_factory=list)


@dataclass
class Loop:  # break / continue
    kind: str


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int
    spaced: bool  # whitespace came before it


# --- lexing and parsing --------------------------------------------------------------------

def _where(source: str, pos: int) -> str:
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column}"


def _fail(source: str, pos: int, message: str) -> TemplateError:
    return TemplateError(f"template {_where(source, pos)}: {message}")


def _segments(source: str) -> list[Text | tuple[list[Token], int]]:
    """Split the source into text and the tokens of each action, applying trim markers."""
    out: list[Text | tuple[list[Token], int]] = []
    pos = 0
    trim_next = False
    while True:
        start = source.find("{{", pos)
        text = source[pos:] if start < 0 else source[pos:start]
        if trim_next:
            text = text.lstrip(_SPACE)
        if start < 0:
            if text:
                out.append(Text(text))
            return out
        inner = start + 2
        if source.startswith("-", inner) and source[inner + 1 : inner + 2] in tuple(_SPACE):
            text = text.rstrip(_SPACE)
            inner += 2
        if text:
            out.append(Text(text))
        tokens, pos, trim_next = _lex_action(source, inner, start)
        if tokens:
            out.append((tokens, start))


def _lex_action(source: str, pos: int, start: int) -> tuple[list[Token], int, bool]:
    """Tokens of one action from `pos` to its `}}`; returns them, the end, and the right trim."""
    stripped = pos
    while stripped < len(source) and source[stripped] in _SPACE:
        stripped += 1
    if source.startswith("/*", stripped):
        end = source.find("*/", stripped + 2)
        if end < 0:
            raise _fail(source, start, "unclosed comment")
        rest = re.compile(r"(\s+-)?\}\}").match(source, end + 2)
        if rest is None:
            raise _fail(source, end + 2, "comment ends before the closing }}")
        return [], rest.end(), bool(rest.group(1))
    tokens: list[Token] = []
    spaced = False
    while True:
        if pos >= len(source):
            raise _fail(source, start, "unclosed action: expected }}")
        match = _TOKEN.match(source, pos)
        if match is None:
            raise _fail(source, pos, f"unexpected {source[pos]!r} in action")
        kind = match.lastgroup or ""
        if kind == "space":
            if source.startswith("-}}", match.end()):
                return tokens, match.end() + 3, True
            spaced, pos = True, match.end()
            continue
        if kind == "close":
            return tokens, match.end(), False
        tokens.append(Token(kind, match.group(), pos, spaced))
        spaced, pos = False, match.end()


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items = _segments(source)
        self.index = 0
        self.scopes: list[set[str]] = [{"$"}]

    def parse(self) -> list[Node]:
        nodes, stop = self._list()
        if stop is not None:
            raise _fail(self.source, stop[1], f'unexpected "{stop[0][0].text}"')
        return nodes

    def _list(self) -> tuple[list[Node], tuple[list[Token], int] | None]:
        """Nodes up to an `end` or `else` (returned, unconsumed) or the end of the source."""
        nodes: list[Node] = []
        while self.index < len(self.items):
            item = self.items[self.index]
            if isinstance(item, Text):
                nodes.append(item)
                self.index += 1
                continue
            tokens, start = item
            head = tokens[0]
            word = head.text if head.kind == "ident" else ""
            if word in ("end", "else"):
                return nodes, item
            self.index += 1
            if word in ("if", "with", "range"):
                nodes.append(self._branch(word, tokens[1:], start))
            elif word in ("break", "continue"):
                if len(tokens) > 1:
                    raise _fail(self.source, tokens[1].pos, f"{word} takes no arguments")
                nodes.append(Loop(word))
            elif word in ("define", "template", "block"):
                raise _fail(self.source, head.pos, f'"{word}" is not supported in Modelfile templates')
            else:
                nodes.append(Action(self._pipe(tokens, start)))
        return nodes, None

    def _branch(self, kind: str, tokens: list[Token], start: int) -> Branch:
        if not tokens:
            raise _fail(self.source, start, f"missing value for {kind}")
        self.scopes.append(set())
        pipe = self._pipe(tokens, start, allow_pair=kind == "range")
        body, stop = self._list()
        orelse: list[Node] = []
        if stop is None:
            raise _fail(self.source, start, f'unclosed "{kind}": expected {{{{ end }}}}')
        stop_tokens, stop_start = stop
        self.index += 1
        self.scopes.pop()
        if stop_tokens[0].text == "else":
            if len(stop_tokens) > 1 and stop_tokens[1].text in ("if", "with") and stop_tokens[1].kind == "ident":
                # `else if` shares the `end` of the branch it continues
                orelse = [self._branch(stop_tokens[1].text, stop_tokens[2:], stop_start)]
                return Branch(kind, pipe, body, orelse)
            if len(stop_tokens) > 1:
                raise _fail(self.source, stop_tokens[1].pos, "unexpected text after else")
            self.scopes.append(set())
            orelse, stop = self._list()
            self.scopes.pop()
            if stop is None or stop[0][0].text != "end":
                raise _fail(self.source, stop_start, f'unclosed "{kind}": expected {{{{ end }}}}')
            self.index += 1
        elif len(stop_tokens) > 1:
            raise _fail(self.source, stop_tokens[1].pos, "unexpected text after end")
        return Branch(kind, pipe, body, orelse)

    def _pipe(self, tokens: list[Token], start: int, *, allow_pair: bool = False) -> Pipe:
        declare: tuple[str, ...] = ()
        assign = False
        names = [t for t in tokens[:3] if t.kind == "var"]
        if len(tokens) >= 2 and tokens[0].kind == "var" and tokens[1].kind in ("declare", "assign"):
            declare, assign, tokens = (tokens[0].text,), tokens[1].kind == "assign", tokens[2:]
        elif (allow_pair and len(tokens) >= 4 and len(names) == 2 and tokens[1].kind == "comma"
              and tokens[3].kind == "declare"):
            declare, tokens = (tokens[0].text, tokens[2].text), tokens[4:]
        if assign and not any(declare[0] in scope for scope in self.scopes):
            raise _fail(self.source, start, f"undefined variable {declare[0]}")
        commands, rest = self._commands(tokens, start)
        if rest:
            raise _fail(self.source, rest[0].pos, f'unexpected "{rest[0].text}"')
        if not assign:
            self.scopes[-1].update(declare)
        return Pipe(commands, declare, assign)

    def _commands(self, tokens: list[Token], start: int) -> tuple[list[list[Node]], list[Token]]:
        commands: list[list[Node]] = []
        args: list[Node] = []
        at = start
        while tokens and tokens[0].kind != "rparen":
            if tokens[0].kind == "pipe":
                if not args:
                    raise _fail(self.source, tokens[0].pos, "missing command before |")
                commands.append(args)
                args, at, tokens = [], tokens[0].pos, tokens[1:]
                continue
            node, tokens = self._operand(tokens, start)
            args.append(node)
        if not args:
            raise _fail(self.source, tokens[0].pos if tokens else at, "missing value in action")
        commands.append(args)
        return commands, tokens

    def _operand(self, tokens: list[Token], start: int) -> tuple[Node, list[Token]]:
        token, tokens = tokens[0], tokens[1:]
        node: Node
        if token.kind == "field":
            node = Field((token.text[1:],))
        elif token.kind == "dot":
            node = Field(())
        elif token.kind == "var":
            if not any(token.text in scope for scope in self.scopes):
                raise _fail(self.source, token.pos, f"undefined variable {token.text}")
            node = Var(token.text)
        elif token.kind == "lparen":
            commands, tokens = self._commands(tokens, start)
            if not tokens:
                raise _fail(self.source, token.pos, "unclosed parenthesis")
            node, tokens = Chain(Pipe(commands), ()), tokens[1:]
        elif token.kind in ("string", "raw"):
            node = Literal(json.loads(token.text) if token.kind == "string" else token.text[1:-1])
        elif token.kind == "number":
            text = token.text
            node = Literal(int(text, 0) if re.fullmatch(r"[+-]?(0[xX][0-9a-fA-F]+|\d+)", text) else float(text))
        elif token.kind == "ident":
            if token.text in ("true", "false", "nil"):
                node = Literal({"true": True, "false": False, "nil": None}[token.text])
            elif token.text in _FUNCTIONS:
                node = Func(token.text)
            elif token.text in _KEYWORDS:
                raise _fail(self.source, token.pos, f'"{token.text}" cannot appear here')
            else:
                raise _fail(self.source, token.pos, f'unknown function "{token.text}"')
        else:
            raise _fail(self.source, token.pos, f'unexpected "{token.text}"')
        chain: list[str] = []
        while tokens and tokens[0].kind == "field" and not tokens[0].spaced:
            chain.append(tokens[0].text[1:])
            tokens = tokens[1:]
        if chain:
            if isinstance(node, Field):
                node = Field(node.chain + tuple(chain))
            elif isinstance(node, Var):
                node = Var(node.name, tuple(chain))
            elif isinstance(node, Chain):
                node = Chain(node.node, tuple(chain))
            else:
                raise _fail(self.source, token.pos, f'"{token.text}" has no fields')
        return node, tokens


@lru_cache(maxsize=32)
def parse_template(source: str) -> tuple[Node, ...]:
    """Parse a template; raise TemplateError naming the line and column of a mistake."""
    return tuple(_Parser(source).parse())


def check_template(source: str) -> None:
    """Raise TemplateError when `source` is not a template ember can run."""
    parse_template(source)


# --- evaluation ----------------------------------------------------------------------------

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
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(to_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{to_text(value[k])}" for k in sorted(value, key=str)) + "]"
    return str(value)


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
    if not isinstance(value, (str, list, tuple)) or not all(isinstance(b, int) for b in bounds):
        raise TemplateError("template: slice needs a string or list and integer bounds")
    return value[bounds[0] if bounds else None : bounds[1] if len(bounds) > 1 else None]  # type: ignore[index,misc]


def _len(value: object) -> int:
    if not isinstance(value, (str, list, tuple, dict)):
        raise TemplateError(f"template: len of {to_text(value)!r}")
    return len(value)


def _sprint(*args: object) -> str:
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += to_text(arg)
    return out


_VERB = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d+))?([a-zA-Z%])")


def _sprintf(fmt: str, *args: object) -> str:
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
    "println": lambda *a: " ".join(to_text(v) for v in a) + "\n",
    "printf": _sprintf,
    "json": lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":")),
    "and": None,  # short-circuit: handled by the evaluator
    "or": None,
}


class _Evaluator:
    def __init__(self, data: dict[str, object]) -> None:
        self.vars: list[tuple[str, object]] = [("$", data)]
        self.out: list[str] = []

    def run(self, nodes: Sequence[Node], dot: object) -> None:
        mark = len(self.vars)
        try:
            for node in nodes:
                self.node(node, dot)
        finally:
            del self.vars[mark:]

    def node(self, node: Node, dot: object) -> None:
        if isinstance(node, Text):
            self.out.append(node.text)
        elif isinstance(node, Action):
            value = self.pipe(node.pipe, dot)
            if not node.pipe.declare:
                self.out.append(to_text(value))
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
        if value is None:
            items: list[tuple[object, object]] = []
        elif isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value, key=str)]
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        else:
            raise TemplateError(f"template: range can't iterate over {to_text(value)!r}")
        if not items:
            self.run(node.orelse, dot)
            return
        for key, item in items:
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
                values = [lambda n=n: self.arg(n, dot) for n in rest]
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


# --- Ollama's use of templates -------------------------------------------------------------

def _identifiers(nodes: Sequence[Node]) -> set[str]:
    found: set[str] = set()

    def visit(node: Node) -> None:
        if isinstance(node, (Field, Var, Chain)):
            found.update(c.lower() for c in node.chain)
            if isinstance(node, Chain):
                visit(node.node)
        elif isinstance(node, Pipe):
            for command in node.commands:
                for arg in command:
                    visit(arg)
        elif isinstance(node, Action):
            visit(node.pipe)
        elif isinstance(node, Branch):
            visit(node.pipe)
            for child in (*node.body, *node.orelse):
                visit(child)

    for node in nodes:
        visit(node)
    return found


def _mentions_response(pipe: Pipe) -> bool:
    return any(isinstance(a, Field) and "Response" in a.chain or isinstance(a, Chain) and _mentions_response(a.node)
               for command in pipe.commands for a in command)


def _cut_after_response(nodes: Sequence[Node]) -> tuple[list[Node], bool]:
    """The template up to its first `.Response` (Ollama leaves the reply open there)."""
    kept: list[Node] = []
    for node in nodes:
        if isinstance(node, Action) and _mentions_response(node.pipe):
            kept.append(node)
            return kept, True
        if isinstance(node, Branch):
            body, cut = _cut_after_response(node.body)
            orelse, cut_else = ([], False) if cut else _cut_after_response(node.orelse)
            kept.append(Branch(node.kind, node.pipe, body, orelse))
            if cut or cut_else:
                return kept, True
            continue
        kept.append(node)
    return kept, False


def _message_data(message: Message) -> dict[str, object]:
    return {"Role": message.role, "Content": message.content, "Images": list(message.images),
            "ToolCalls": list(message.tool_calls), "ToolName": message.tool_name, "Thinking": ""}


def _collate(messages: Sequence[Message]) -> tuple[str, list[Message]]:
    """All system texts joined, and consecutive turns of one role merged, as Ollama does."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    merged: list[Message] = []
    for message in messages:
        if merged and merged[-1].role == message.role:
            last = merged[-1]
            merged[-1] = Message(last.role, last.content + "\n\n" + message.content, list(last.images),
                                 list(last.tool_calls), last.tool_name)
        else:
            merged.append(message)
    return system, merged


def _execute(nodes: Sequence[Node], data: dict[str, object]) -> str:
    evaluator = _Evaluator(data)
    try:
        evaluator.run(nodes, data)
    except (_Break, _Continue):
        raise TemplateError("template: break or continue outside range")
    except RecursionError:
        raise TemplateError("template: nested too deeply")
    return "".join(evaluator.out)


def render_ollama_template(template: str, messages: Sequence[Message], *,
                           tools: list[dict[str, Any]] | None = None) -> str:
    """The prompt for `messages` through a Modelfile TEMPLATE, as Ollama builds it."""
    nodes = parse_template(template)
    names = _identifiers(nodes)
    if "messages" not in names and "response" not in names:
        nodes = (*nodes, Action(Pipe([[Field(("Response",))]])))
    system, merged = _collate(messages)
    if "messages" in names:
        return _execute(nodes, {"System": system, "Messages": [_message_data(m) for m in merged],
                                "Tools": tools or None, "Response": "", "Prompt": "", "Think": False})
    # A template without .Messages is run once per exchange and left open at .Response.
    out: list[str] = []
    turn = {"System": "", "Prompt": "", "Response": ""}

    def flush() -> None:
        out.append(_execute(nodes, dict(turn)))
        turn.update(System="", Prompt="", Response="")

    for message in merged:
        if message.role == "system":
            if turn["Prompt"] or turn["Response"]:
                flush()
            turn["System"] = message.content
        elif message.role == "user":
            if turn["Response"]:
                flush()
            turn["Prompt"] = message.content
        elif message.role == "assistant":
            turn["Response"] = message.content
    open_nodes, _ = _cut_after_response(nodes)
    out.append(_execute(open_nodes, dict(turn)))
    return "".join(out)
