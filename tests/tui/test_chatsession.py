"""ChatSession: the conversation and slash commands the REPL and the app share, on the real model."""

from __future__ import annotations

import pytest
from ember.backend.history import History
from ember.tui.chat.session import Author, ChatSession, ChatState
from ember.tui.chat.slash_run import run_command

MODEL = "smollm2:135m"


@pytest.fixture
def session(backend, tmp_path):
    history = History(tmp_path / "history.db")
    yield ChatSession(backend, ChatState(model=MODEL, options={"temperature": 0, "num_predict": 8}), history)
    history.close()


async def answer(chunks) -> str:
    return "".join([c.text async for c in chunks])


async def test_set_parameter_and_system_shape_the_next_request(session):
    assert "Set parameter 'top_k' to '5'" == (await run_command(session, "/set parameter top_k 5")).text
    await run_command(session, '/set system "Answer in French."')
    request = session.request()
    assert request.options["top_k"] == 5
    assert request.messages[0].role == "system" and request.messages[0].content == "Answer in French."


async def test_bad_parameters_name_the_expected_type_and_suggest(session):
    assert "expects a number" in (await run_command(session, "/set parameter temperature hot")).text
    assert 'did you mean "temperature"' in (await run_command(session, "/set parameter temprature 1")).text
    assert "temperature" not in session.state.options or session.state.options["temperature"] == 0


async def test_load_of_a_missing_model_suggests_pull(session):
    text = (await run_command(session, "/load nosuch")).text
    assert 'ember pull nosuch' in text
    assert session.state.model == MODEL


async def test_a_turn_is_saved_to_history_as_it_happens(session):
    reply = await answer(session.send("Say hi"))
    assert reply
    stored = session.history.messages(session.conversation_id)
    assert [(m.role, m.content) for m in stored] == [("user", "Say hi"), ("assistant", reply)]
    assert "Say" in (await run_command(session, "/search hi")).text


async def test_nohistory_keeps_the_conversation_out_of_the_database(session):
    await run_command(session, "/set nohistory")
    await answer(session.send("Say hi"))
    assert session.conversation_id is None and session.history.conversations() == []


async def test_retry_replaces_the_last_answer(session):
    await answer(session.send("Name a colour."))
    outcome = await run_command(session, "/retry")
    again = await answer(outcome.answer)
    roles = [m.role for m in session.state.messages]
    assert roles == ["user", "assistant"] and session.state.messages[-1].content == again


async def test_copy_takes_a_code_block_of_the_last_answer(session):
    from ember.backend.types import Message

    session.state.messages += [Message("user", "code?"),
                               Message("assistant", "```sh\nls\n```\nand\n```python\nprint(1)\n```")]
    last = await run_command(session, "/copy")
    first = await run_command(session, "/copy 1")
    assert last.copy == "print(1)\n" and "python" in last.text
    assert first.copy == "ls\n"
    assert "choose 1 to 2" in (await run_command(session, "/copy 3")).text


async def test_export_writes_markdown(session, tmp_path):
    await answer(session.send("Hello"))
    target = tmp_path / "chat.md"
    assert "Wrote 2 messages" in (await run_command(session, f"/export {target}")).text
    text = target.read_text()
    assert "## User\n\nHello" in text and "## Assistant" in text


async def test_clear_and_bye(session):
    await answer(session.send("Hello"))
    assert (await run_command(session, "/clear")).text == "Cleared session context"
    assert session.state.messages == []
    assert (await run_command(session, "/bye")).quit


async def test_retry_and_edit_take_dropped_messages_out_of_the_history(session):
    await answer(session.send("Name a colour."))
    await answer((await run_command(session, "/retry")).answer)
    stored = session.history.messages(session.conversation_id)
    assert [(m.role, m.content) for m in stored] == [(m.role, m.content) for m in session.state.messages]
    assert session.take_back_last() == "Name a colour."
    assert session.state.messages == [] and session.history.messages(session.conversation_id) == []


async def test_a_stored_conversation_continues_where_it_was(session, tmp_path):
    await answer(session.send("Say hi"))
    conversation_id = session.conversation_id
    again = ChatSession(session.backend, ChatState(model=MODEL, options={"num_predict": 4}), session.history)
    again.open_conversation(conversation_id)
    assert [m.content for m in again.state.messages] == [m.content for m in session.state.messages]
    await answer(again.send("And again"))
    assert len(session.history.messages(conversation_id)) == 4
    again.drop_last()
    assert len(session.history.messages(conversation_id)) == 3


async def test_a_persona_switch_keeps_the_conversation_and_its_parameters_take_over(session, tmp_path):
    from ember.backend.models.personas import load_personas

    session.personas = load_personas(tmp_path / "none")
    await run_command(session, '/set system "Be brief."')
    outcome = await run_command(session, "/persona reviewer")
    reviewer = session.persona
    assert reviewer.slug == "reviewer" and "Code reviewer" in outcome.text
    request = session.request()
    assert request.messages[0].content == reviewer.system  # the chat's own system prompt gives way
    assert request.options == reviewer.parameters
    assert "no persona" in (await run_command(session, "/persona nobody")).text
    assert (await run_command(session, "/persona nobody")).error


async def test_a_failed_history_write_is_reported_and_the_chat_goes_on(session):
    problems = []
    session.on_save_error = problems.append
    session.history.db.execute("PRAGMA query_only=ON")  # a database that refuses writes, as a read-only file does
    reply = await answer(session.send("Say hi"))
    assert reply and [m.role for m in session.state.messages] == ["user", "assistant"]
    assert problems and "could not save to the conversation history" in str(problems[0])


@pytest.mark.parametrize(("typed", "stored"), [
    ('/set system Reply "ok"', 'Reply "ok"'),
    ('/set system "Answer in French."', "Answer in French."),
    ('/set system "a" or "b"', '"a" or "b"'),
])
async def test_set_system_keeps_quotes_inside_the_text(session, typed, stored):
    await run_command(session, typed)
    assert session.state.system == stored
    modelfile = (await run_command(session, "/show modelfile")).text
    assert f'SYSTEM """{stored}"""' in modelfile


async def test_show_info_says_what_ember_show_says(session, backend):
    from ember.tui.cli.format import model_description

    text = (await run_command(session, "/show info")).text
    info = await backend.show(MODEL)
    assert text == model_description(info)
    for label in ("architecture", "context length", "embedding length", "quantization"):
        assert label in text
    assert "Capabilities" in text and "completion" in text


async def test_show_parameters_lists_each_value_as_a_modelfile_writes_it(session):
    await run_command(session, "/set parameter stop END STOP")
    text = (await run_command(session, "/show parameters")).text
    assert "[" not in text
    lines = text.splitlines()
    assert lines[0] == "User defined parameters:"
    assert [line.split() for line in lines if line.startswith("stop")] == [["stop", '"END"'], ["stop", '"STOP"']]
    assert any(line.split() == ["temperature", "0"] for line in lines)


async def test_an_answer_is_in_the_history_while_it_streams(session):
    from contextlib import aclosing

    session.state.options.update({"num_predict": 200})
    session.add_user("Write a long story about the sea.")
    streamed = ""
    async with aclosing(session.answer()) as chunks:
        async for chunk in chunks:
            streamed += chunk.text
            stored = session.history.messages(session.conversation_id)
            if len(stored) == 2:
                assert stored[1].role == "assistant"
                assert stored[1].content and streamed.startswith(stored[1].content)
                break
        else:
            raise AssertionError("the answer ended before any of it was written to the history")
    kept = session.turns[-1]
    assert kept.role == "assistant" and kept.content == streamed
    assert [m.content for m in session.history.messages(session.conversation_id)] == [session.turns[0].content,
                                                                                      streamed]
    session.drop_last()  # the row written while streaming is the answer's own row
    assert len(session.history.messages(session.conversation_id)) == 1


async def test_each_answer_keeps_who_gave_it_when_the_conversation_is_continued(session, tmp_path):
    from ember.backend.models.personas import load_personas

    persona = load_personas(tmp_path / "no-user-personas")[0]
    session.state.persona = persona
    await answer(session.send("Hi"))
    assert session.author(session.turns[-1]) == Author(MODEL, persona.slug)
    conversation = session.conversation_id
    session.state.persona = None
    session.state.model = "pirate:latest"
    session.clear()
    session.open_conversation(conversation)
    assert session.author(session.turns[-1]) == Author(MODEL, persona.slug)
    assert session.author(session.turns[0]) is None  # a question has no author to show
