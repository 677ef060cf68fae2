"""The blocks an answer streams into: code in chunks of lines, and room kept below the growing block so
that the conversation scrolls (and Textual lays the screen out) once a chunk, not once a line."""

from __future__ import annotations

import pytest
from ember.tui.app.widgets.chat_markdown import ChatMarkdown
from ember.tui.app.widgets.code_fence import CHUNK_LINES, LabeledFence
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Label

pytestmark = pytest.mark.timeout(60)

CODE = "".join(f"value_{i} = compute({i})  # step {i}\n" for i in range(30))
ANSWER = "Here it is:\n\n```python\n" + CODE + "```\n\nThat is all."


class OneAnswer(App[None]):
    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield ChatMarkdown("")


async def stream(pilot, markdown: ChatMarkdown, text: str, piece: int = 6) -> list[int]:  # type: ignore[no-untyped-def]
    """Append `text` a few characters a frame; the answer's height after each frame."""
    heights = []
    for at in range(0, len(text), piece):
        await markdown.append(text[at:at + piece])
        await pilot.pause()
        heights.append(markdown.outer_size.height)
    return heights


async def test_a_streamed_code_block_comes_in_chunks_and_is_highlighted_whole_once_settled():
    app = OneAnswer()
    async with app.run_test(size=(80, 24)) as pilot:
        markdown = app.query_one(ChatMarkdown)
        markdown.room = 8
        await stream(pilot, markdown, ANSWER[:ANSWER.index("```\n\nThat")])
        fence = markdown.query_one(LabeledFence)
        chunks = list(fence.query(".code-chunk").results(Label))
        assert fence.code == CODE.rstrip("\n")
        assert len(chunks) == -(-30 // CHUNK_LINES)
        assert [str(label.content).count("\n") + 1 for label in chunks[:-1]] == [CHUNK_LINES] * (len(chunks) - 1)

        markdown.room = 0
        await markdown.update(ANSWER)
        await pilot.pause()
        fence = markdown.query_one(LabeledFence)
        settled = list(fence.query(".code-chunk").results(Label))
        whole = fence.highlight(fence.code, "python")
        assert "\n".join(str(label.content) for label in settled) == whole.plain
        assert sum(len(label.content.spans) for label in settled) >= len(whole.plain.split("\n")) // 2
        assert all(not label.styles.inline.has_rule("min_height") for label in settled)


async def test_the_conversation_grows_once_a_chunk_of_code_not_once_a_line():
    app = OneAnswer()
    async with app.run_test(size=(80, 24)) as pilot:
        markdown = app.query_one(ChatMarkdown)
        markdown.room = 8
        heights = await stream(pilot, markdown, "```python\n" + CODE)
        steps = len(set(heights))
        assert steps <= 30 // CHUNK_LINES + 2, heights


async def test_without_room_it_grows_at_every_line_and_a_settled_answer_keeps_no_blank_lines():
    app = OneAnswer()
    async with app.run_test(size=(80, 24)) as pilot:
        markdown = app.query_one(ChatMarkdown)
        heights = await stream(pilot, markdown, "```python\n" + CODE)
        assert len(set(heights)) >= 25  # the control: what the room saves

        markdown.room = 8
        await stream(pilot, markdown, "```\n\n" + "Some words that wrap over the lines. " * 20)
        paragraph = markdown.children[-1]
        assert paragraph.styles.inline.has_rule("min_height")  # the growing paragraph keeps room below it
        markdown.room = 0
        await markdown.update(markdown.source)
        await pilot.pause()
        assert all(not b.styles.inline.has_rule("min_height") for b in markdown.children)
        never_streamed = ChatMarkdown(markdown.source)
        await app.query_one(VerticalScroll).mount(never_streamed)
        await pilot.pause()
        assert markdown.size.height == never_streamed.size.height
