"""Parse Go's text/template syntax, as far as Ollama's templates use it, into a small tree.

Mistakes raise TemplateError naming the line and column. `backend.gotemplate_eval` runs the tree.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ember.backend.errors import TemplateError
from ember.backend.prompt.budget import LIMITS

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
FUNCTION_NAMES = frozenset({"and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "slice", "print",
                            "printf", "println", "json"})
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
        self.depth = 0

    def _deeper(self, pos: int) -> None:
        self.depth += 1
        if self.depth > LIMITS.depth:
            raise _fail(self.source, pos, f"blocks or parentheses nested deeper than {LIMITS.depth} levels")

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
        self._deeper(start)
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
                self.depth -= 1
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
        self.depth -= 1
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
            self._deeper(token.pos)
            commands, tokens = self._commands(tokens, start)
            self.depth -= 1
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
            elif token.text in FUNCTION_NAMES:
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
