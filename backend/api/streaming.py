"""Streaming bodies (NDJSON for Ollama, SSE for OpenAI) that stop the work when the client leaves.

A stream's first item is read before the response starts, so an unknown model or a bad option
still gets its proper status code; an error after that arrives as a last `{"error": …}` line.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import anyio
from ember.backend.asyncbridge import closing
from ember.backend.errors import EmberError
from fastapi import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

T = TypeVar("T")
NDJSON = "application/x-ndjson"


class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


def timestamp(unix: float | None = None) -> str:
    """RFC 3339 in UTC, as Ollama writes `created_at` and `modified_at`."""
    moment = datetime.now(UTC) if unix is None else datetime.fromtimestamp(unix, UTC)
    return moment.isoformat().replace("+00:00", "Z")


async def until_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it if the client disconnects first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnect(request.receive))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task in done:
        return task.result()
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):
        pass
    raise ClientGone()


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


BODY_SEND = "ember.body_send"  # in the scope: the send beneath the middleware, for a stream's chunks


class WatchedStream(StreamingResponse):
    """Streams its body and cancels it (closing the work behind it) as soon as the client leaves.

    The response's start and end pass through the middleware as usual; the chunks in between go to
    the scope's BODY_SEND when the Guard put one there (no middleware here changes a body, and each
    layer skipped is work saved on every streamed line)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body_send: Send = scope.get(BODY_SEND, send)

        async def stream() -> None:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for chunk in self.body_iterator:
                await body_send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async with anyio.create_task_group() as group:

            async def guarded() -> None:
                try:
                    await stream()
                except OSError:
                    pass
                group.cancel_scope.cancel()

            group.start_soon(guarded)
            await _disconnect(receive)
            group.cancel_scope.cancel()


async def first_and_rest(request: Request, stream: AsyncIterator[T]) -> tuple[T, AsyncIterator[T]]:
    """Read the first item (errors surface here, before any byte is sent) and return the stream."""
    try:
        first = await until_disconnected(request, anext(stream))
    except StopAsyncIteration:
        raise EmberError("the model returned nothing") from None
    except BaseException:
        await stream.aclose()  # type: ignore[attr-defined]
        raise
    return first, stream


async def chunks_of(first: T, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    """The whole stream again, its first item included."""
    yield first
    async for item in rest:
        yield item


def ndjson_response(first: T, rest: AsyncIterator[T], render: Callable[[T], dict[str, Any]]) -> WatchedStream:
    async def body() -> AsyncIterator[bytes]:
        async with closing(rest):
            yield _line(render(first))
            try:
                async for item in rest:
                    yield _line(render(item))
            except EmberError as exc:
                yield _line({"error": str(exc)})

    return WatchedStream(body(), media_type=NDJSON)


def sse_response(events: AsyncIterator[dict[str, Any]]) -> WatchedStream:
    async def body() -> AsyncIterator[bytes]:
        async with closing(events):
            try:
                async for event in events:
                    yield f"data: {_json(event)}\n\n".encode()
            except EmberError as exc:
                error = {"error": {"message": str(exc), "type": "invalid_request_error", "code": None}}
                yield b"data: " + json.dumps(error).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"

    return WatchedStream(body(), media_type="text/event-stream")


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _json(data: dict[str, Any]) -> str:
    return _JSON.encode(data)


def _line(data: dict[str, Any]) -> bytes:
    return (_json(data) + "\n").encode()


def named_sse_response(events: AsyncIterator[dict[str, Any]],
                       error: Callable[[EmberError], dict[str, Any]]) -> WatchedStream:
    """Server-sent events named by their `type` (Anthropic's and OpenAI Responses' streams);
    a failure after the first event is one last event made by `error`."""
    def frame(event: dict[str, Any]) -> bytes:
        return f"event: {event['type']}\ndata: {_json(event)}\n\n".encode()

    async def body() -> AsyncIterator[bytes]:
        async with closing(events):
            try:
                async for event in events:
                    yield frame(event)
            except EmberError as exc:
                yield frame(error(exc))

    return WatchedStream(body(), media_type="text/event-stream")


@dataclass(frozen=True)
class _Failed:
    error: Exception


_END = object()


async def interleaved(streams: list[AsyncIterator[T]]) -> AsyncIterator[tuple[int, T]]:
    """The items of several streams as each arrives, with the index of its stream; the first failure is
    raised; closing this closes every stream, so the work behind each stops."""
    arrived: asyncio.Queue[tuple[int, object]] = asyncio.Queue()

    async def pump(index: int, stream: AsyncIterator[T]) -> None:
        try:
            async with closing(stream):
                async for item in stream:
                    await arrived.put((index, item))
            await arrived.put((index, _END))
        except Exception as exc:  # handed to the reader, which raises it
            await arrived.put((index, _Failed(exc)))

    pumps = [asyncio.ensure_future(pump(i, stream)) for i, stream in enumerate(streams)]
    try:
        left = len(pumps)
        while left:
            index, item = await arrived.get()
            if item is _END:
                left -= 1
            elif isinstance(item, _Failed):
                raise item.error
            else:
                yield index, cast(T, item)
    finally:
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
