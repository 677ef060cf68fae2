"""Ollama's prompt templates: the part of Go's text/template that Ollama's own templates use.

A template is parsed into a small tree and interpreted over plain dicts and lists. Nothing in it
can reach a Python attribute, so a Modelfile TEMPLATE cannot run code. Supported: text, `{{- -}}`
trimming, comments, fields (`.System`, `.Function.Name`), `$` variables (`:=`, `=`), pipelines,
parentheses, `if`/`else if`/`else`, `range` (with `$i, $m :=`, `break`, `continue`), `with`, and the
functions and, or, not, eq, ne, lt, le, gt, ge, len, index, slice, print, printf, println, json.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ember.backend.prompt.budget import LIMITS, RenderBudget, RenderLimits
from ember.backend.prompt.goeval import execute
from ember.backend.prompt.goparse import (
    Action,
    Branch,
    Chain,
    Field,
    Node,
    Pipe,
    Var,
    check_template,
    parse_template,
)
from ember.backend.types import Message

__all__ = ["check_template", "parse_template", "render_ollama_template"]


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
            "ToolCalls": list(message.tool_calls), "ToolName": message.tool_name,
            "Thinking": message.thinking}


def _collate(messages: Sequence[Message]) -> tuple[str, list[Message]]:
    """All system texts joined, and consecutive turns of one role merged, as Ollama does."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    merged: list[Message] = []
    for message in messages:
        if merged and merged[-1].role == message.role:
            last = merged[-1]
            merged[-1] = Message(last.role, last.content + "\n\n" + message.content, list(last.images),
                                 list(last.tool_calls), last.tool_name, last.thinking + message.thinking)
        else:
            merged.append(message)
    return system, merged


def _think_data(think: bool | str | None) -> dict[str, object]:
    """Ollama's thinking variables: `.Think`, `.ThinkLevel` ("low" | "medium" | "high"), `.IsThinkSet`."""
    return {"Think": bool(think), "ThinkLevel": think if isinstance(think, str) else "",
            "IsThinkSet": think is not None}


def render_ollama_template(template: str, messages: Sequence[Message], *,
                           tools: list[dict[str, Any]] | None = None, suffix: str = "",
                           think: bool | str | None = None, limits: RenderLimits = LIMITS,
                           cancel: threading.Event | None = None) -> str:
    """The prompt for `messages` through a Modelfile TEMPLATE, as Ollama builds it, within `limits`
    (`suffix`: the text after the insertion point, for a fill-in-the-middle template's `.Suffix`)."""
    nodes = parse_template(template)
    budget = RenderBudget("the template", limits, cancel)
    names = _identifiers(nodes)
    if "messages" not in names and "response" not in names:
        nodes = (*nodes, Action(Pipe([[Field(("Response",))]])))
    system, merged = _collate(messages)
    if "messages" in names:
        return execute(nodes, {"System": system, "Messages": [_message_data(m) for m in merged],
                               "Tools": tools or None, "Response": "", "Prompt": "", **_think_data(think),
                               "Suffix": suffix}, budget)
    # A template without .Messages is run once per exchange and left open at .Response.
    out: list[str] = []
    turn = {"System": "", "Prompt": "", "Response": ""}
    thinking = _think_data(think)

    def flush() -> None:
        out.append(execute(nodes, {**thinking, **turn}, budget))
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
    out.append(execute(open_nodes, {**thinking, **turn, "Suffix": suffix}, budget))
    return "".join(out)
