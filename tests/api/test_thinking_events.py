"""Thinking in the streamed events, read back by each official client's own stream accumulator.

No model here can think, so the answer is a stream of the engine's Chunks as a thinking model
gives them (thinking first, then text); what is tested is the events ember makes of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from anthropic.lib.streaming._messages import accumulate_event
from ember.backend.api import routes_anthropic, routes_responses
from ember.backend.types import Chunk, Timings
from ember.backend.wire import anthropic as anthropic_wire
from ember.backend.wire import responses as wire
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

THOUGHT = ["The user greets me. ", "I greet back."]
SAID = ["Hello", " there!"]


async def _thinking_answer() -> AsyncIterator[Chunk]:
    for piece in THOUGHT:
        yield Chunk("", thinking=piece)
    for piece in SAID:
        yield Chunk(piece)
    yield Chunk("", done=True, done_reason="stop", timings=Timings(prompt_eval_count=7, eval_count=9))


async def test_anthropic_streams_thinking_deltas_before_the_text() -> None:
    events = [e async for e in routes_anthropic._events("m", "msg_1", _thinking_answer())]
    assert all(anthropic_wire.StreamEvent.model_validate(e).model_dump(exclude_unset=True) == e for e in events)
    snapshot = None
    for event in events:
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs={})
    assert [b.type for b in snapshot.content] == ["thinking", "text"]
    assert snapshot.content[0].thinking == "".join(THOUGHT) and snapshot.content[1].text == "".join(SAID)
    deltas = [e["delta"]["type"] for e in events if e["type"] == "content_block_delta"]
    assert deltas == ["thinking_delta"] * 2 + ["text_delta"] * 2
    assert snapshot.stop_reason == "end_turn" and snapshot.usage.output_tokens == 9


async def test_responses_stream_a_reasoning_item_before_the_message() -> None:
    body = wire.ResponsesRequest(model="m", input="hi")
    events = [e async for e in routes_responses._numbered(routes_responses._events(body, "resp_1", _thinking_answer()))]
    assert all(wire.StreamEvent.model_validate(e).model_dump(mode="json", exclude_unset=True) == e for e in events)
    state = ResponseStreamState(input_tools=omit, text_format=omit)
    parse = TypeAdapter(ResponseStreamEvent).validate_python
    for event in events:
        state.handle_event(parse(event))
    final = state._completed_response
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].content[0].text == "".join(THOUGHT)
    assert final.output_text == "".join(SAID) and final.usage.output_tokens == 9
    kinds = [e["type"] for e in events]
    assert kinds.count("response.reasoning_text.delta") == 2 and kinds.count("response.output_text.delta") == 2
    assert kinds.index("response.reasoning_text.done") < kinds.index("response.output_text.delta")
