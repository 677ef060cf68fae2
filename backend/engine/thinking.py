"""Split a streamed answer into its thinking and its content, as it arrives token by token.

Two ways models think aloud: a `<think>…</think>` block before the answer (qwen3, deepseek-r1;
sometimes the prompt template writes the opening tag itself), and gpt-oss's channels
(`<|channel|>analysis<|message|>…<|end|>` then `<|channel|>final<|message|>…`). A tag may arrive
split over several tokens, so text that could be the start of a tag is held back until it is known.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ember.backend.types import Chunk

OPEN_TAG, CLOSE_TAG = "<think>", "</think>"
HARMONY_ENDS = ("<|end|>", "<|return|>", "<|call|>", "<|start|>")  # <|start|>: a new message, should <|end|> not show
HARMONY_MESSAGE = "<|message|>"


class Splitter(Protocol):
    def feed(self, text: str) -> tuple[str, str]:
        """(thinking, content) that `text` completes."""

    def flush(self) -> tuple[str, str]:
        """(thinking, content) still held when the answer ends."""


def _partial_tail(text: str, tags: tuple[str, ...]) -> int:
    """Length of the longest end of `text` that is the start of one of `tags`."""
    longest = 0
    for tag in tags:
        for size in range(min(len(tag) - 1, len(text)), longest, -1):
            if text.endswith(tag[:size]):
                longest = size
                break
    return longest


class ThinkTagSplitter:
    """`<think>` at the start of the answer (after blank space) opens thinking; `</think>` ends it.

    An answer that starts with anything else is all content. With `opened`, the prompt already
    wrote the opening tag, so the answer starts inside the thinking.
    """

    def __init__(self, opened: bool = False, open_tag: str = OPEN_TAG, close_tag: str = CLOSE_TAG) -> None:
        self.open_tag, self.close_tag = open_tag, close_tag
        self.state = "thinking" if opened else "start"
        self._held = ""
        self._begun = False  # some thinking text has been seen (blank space after the tag is dropped)

    def feed(self, text: str) -> tuple[str, str]:
        thinking: list[str] = []
        content: list[str] = []
        held = self._held + text
        self._held = ""
        while held:
            if self.state == "start":
                head = held.lstrip()
                if head.startswith(self.open_tag):
                    self.state, held = "thinking", head[len(self.open_tag):]
                elif not head or self.open_tag.startswith(head):
                    self._held = held
                    break
                else:
                    self.state = "content"
            elif self.state == "thinking":
                if not self._begun:
                    held = held.lstrip()
                    if not held:
                        break
                    self._begun = True
                at = held.find(self.close_tag)
                if at >= 0:
                    thinking.append(held[:at].rstrip())
                    self.state, held = "after", held[at + len(self.close_tag):]
                    continue
                keep = _partial_tail(held, (self.close_tag,))
                body, tail = held[: len(held) - keep], held[len(held) - keep:]
                trimmed = body.rstrip()  # blank space before the closing tag is not thinking either
                thinking.append(trimmed)
                self._held = body[len(trimmed):] + tail
                break
            elif self.state == "after":
                held = held.lstrip()
                if held:
                    self.state = "content"
            else:
                content.append(held)
                break
        return "".join(thinking), "".join(content)

    def flush(self) -> tuple[str, str]:
        held, self._held = self._held, ""
        if self.state == "thinking":
            return held.strip(), ""
        return ("", held) if self.state in ("start", "content") and held.strip() else ("", "")


class HarmonySplitter:
    """gpt-oss's channels: `analysis` is thinking, `final` (and `commentary`) are the answer."""

    def __init__(self) -> None:
        self.state = "header"
        self.channel = ""
        self._held = ""

    def feed(self, text: str) -> tuple[str, str]:
        thinking: list[str] = []
        content: list[str] = []
        held = self._held + text
        self._held = ""
        while held:
            if self.state == "header":
                at = held.find(HARMONY_MESSAGE)
                if at < 0:
                    if not held.lstrip().startswith("<|") and not "<|".startswith(held.lstrip()):
                        self.state, self.channel = "body", "final"  # no channels: plain answer text
                        continue
                    self._held = held
                    break
                header = held[:at]
                self.channel = header.split("<|channel|>", 1)[1].split()[0].split("<|")[0] \
                    if "<|channel|>" in header else "final"
                self.state, held = "body", held[at + len(HARMONY_MESSAGE):]
                continue
            ends = [i for i in (held.find(end) for end in HARMONY_ENDS) if i >= 0]
            sink = thinking if self.channel == "analysis" else content
            if ends:
                at = min(ends)
                sink.append(held[:at])
                end = next(e for e in HARMONY_ENDS if held.startswith(e, at))
                skip = 0 if end == "<|start|>" else len(end)  # <|start|> begins the next header
                self.state, held = "header", held[at + skip:]
                continue
            keep = _partial_tail(held, HARMONY_ENDS)
            sink.append(held[: len(held) - keep])
            self._held = held[len(held) - keep:]
            break
        return "".join(thinking), "".join(content)

    def flush(self) -> tuple[str, str]:
        held, self._held = self._held, ""
        if self.state == "header" or not held:
            return "", ""
        return (held, "") if self.channel == "analysis" else ("", held)


def split_chunk(splitter: Splitter, chunk: Chunk) -> list[Chunk]:
    """What `chunk` becomes: its text divided into `thinking` and `text`; the last chunk flushes the rest."""
    if chunk.done:
        thinking, content = splitter.flush()
        return [Chunk(content, thinking=thinking, pieces=0), chunk] if thinking or content else [chunk]
    thinking, content = splitter.feed(chunk.text)
    if thinking or content or chunk.logprobs or chunk.prompt_logprobs:
        return [Chunk(content, thinking=thinking, logprobs=chunk.logprobs, pieces=chunk.pieces,
                      prompt_logprobs=chunk.prompt_logprobs)]
    return []


def split_thinking(chunks: Iterator[Chunk], splitter: Splitter) -> Iterator[Chunk]:
    """The same stream with each chunk's text divided into `thinking` and `text`."""
    for chunk in chunks:
        yield from split_chunk(splitter, chunk)
        if chunk.done:
            return
