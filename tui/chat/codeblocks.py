"""Fenced code blocks in an answer, found with the same Markdown parser the app renders with."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CodeBlock:
    language: str
    code: str


def code_blocks(markdown: str) -> list[CodeBlock]:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(markdown)
    return [CodeBlock(t.info.strip().split(" ")[0], t.content) for t in tokens if t.type == "fence"]
