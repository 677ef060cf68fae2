"""ChatSession: the conversation and slash commands the REPL and the app share, on the real model."""

from __future__ import annotations

import pytest

from backend.history import History
from tui.chatsession import ChatSession, ChatState

MODEL = "smollm2:135m"


@pytest.fixture
def session(backend, tmp_path):
    history = History(tmp_path / "history.db")
    yield ChatSession(backend, ChatState(model=MODEL, options={"temperature": 0, "num_predict": 8}), history)
    history.close()


async def answer(chunks) -> str:
    return "".join([c.text async for c in chunks])


async def test_set_parameter_and_system_shape_the_next_request(session):
    assert "Set parameter 'top_k' to '5'" == (await session.command("/set parameter top_k 5")).text
    await session.command('/set system "Answer in French."')
    request = session.request()
    assert request.options["top_k"] == 5
    assert request.messages[0].role == "system" and request.messages[0].content == "Answer in French."


async def test_bad_parameters_name_the_expected_type_and_suggest(session):
    assert "expects a number" in (await session.command("/set parameter temperature hot")).text
    assert 'did you mean "temperature"' in (await session.command("/set parameter temprature 1")).text
    assert "temperature" not in session.state.options or session.state.options["temperature"] == 0


async def test_load_of_a_missing_model_suggests_pull(session):
    text = (await session.command("/load nosuch")).text
    assert 'ember pull nosuch' in text
    assert session.state.model == MODEL


async def test_a_turn_is_saved_to_history_as_it_happens(session):
    reply = await answer(session.send("Say hi"))
    assert reply
    stored = session.history.messages(session.conversation_id)
    assert [(m.role, m.content) for m in stored] == [("user", "Say hi"), ("assistant", reply)]
    assert "Say" in (await session.command("/search hi")).text


async def test_nohistory_keeps_the_conversation_out_of_the_database(session):
    await session.command("/set nohistory")
    await answer(session.send("Say hi"))
    assert session.conversation_id is None and session.history.conversations() == []


async def test_retry_replaces_the_last_answer(session):
    await answer(session.send("Name a colour."))
    outcome = await session.command("/retry")
    again = await answer(outcome.answer)
    roles = [m.role for m in session.state.messages]
    assert roles == ["user", "assistant"] and session.state.messages[-1].content == again


async def test_copy_takes_a_code_block_of_the_last_answer(session):
    from backend.types import Message

    session.state.messages += [Message("user", "code?"),
                               Message("assistant", "```sh\nls\n```\nand\n```python\nprint(1)\n```")]
    last = await session.command("/copy")
    first = await session.command("/copy 1")
    assert last.copy == "print(1)\n" and "python" in last.text
    assert first.copy == "ls\n"
    assert "choose 1 to 2" in (await session.command("/copy 3")).text


async def test_export_writes_markdown(session, tmp_path):
    await answer(session.send("Hello"))
    target = tmp_path / "chat.md"
    assert "Wrote 2 messages" in (await session.command(f"/export {target}")).text
    text = target.read_text()
    assert "## User\n\nHello" in text and "## Assistant" in text


async def test_clear_and_bye(session):
    await answer(session.send("Hello"))
    assert (await session.command("/clear")).text == "Cleared session context"
    assert session.state.messages == []
    assert (await session.command("/bye")).quit
