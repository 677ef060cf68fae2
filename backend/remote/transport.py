"""What both remote backends share: one HTTP client, retries before the first byte, failures as one line.

Only connection errors are retried (with backoff): the request never reached the server, so
sending it again is safe. Once a server has answered, a failure is reported, never repeated.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import pydantic
from ember.backend.errors import EmberError, InvalidRequest, ModelNotFound, RemoteError, Unauthorized

DEFAULT_TIMEOUT = 300.0  # seconds a server may stay silent: a large model can take minutes to load
CONNECT_TIMEOUT = 5.0
RETRIES = 3  # attempts to connect before giving up
BACKOFF = 0.2  # seconds before the second attempt, doubled each time
M = TypeVar("M", bound=pydantic.BaseModel)
_CONNECTING = (httpx.ConnectError,)  # refused or reset: a server restarting; a silent host is not retried


def env_timeout(environ: dict[str, str] | None = None) -> float:
    """EMBER_REMOTE_TIMEOUT (seconds), else the default."""
    text = (os.environ if environ is None else environ).get("EMBER_REMOTE_TIMEOUT", "")
    try:
        return float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise EmberError(f'EMBER_REMOTE_TIMEOUT must be a number of seconds, got "{text}"') from None


def bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


class RemoteModelNotFound(ModelNotFound):
    def __init__(self, name: str, where: str, hint: str) -> None:
        EmberError.__init__(self, f'model "{name}" not found on {where} — see "{hint}"')
        self.name = name


class Transport:
    """An httpx client bound to one server, whose failures are EmberErrors that say what to do."""

    def __init__(self, base_url: str, api_key: str = "", *, timeout: float = DEFAULT_TIMEOUT,
                 retries: int = RETRIES, label: str = "", kind: str = "") -> None:
        self.base_url = base_url
        self.has_key = bool(api_key)
        self.timeout = timeout
        self.retries = max(1, retries)
        self.label = label or base_url  # how the user names it: a remote's name, or the URL
        self.kind = kind  # "OpenAI-compatible", "Ollama-compatible"
        self._headers = bearer(api_key)
        self._client: httpx.AsyncClient | None = None

    @property
    def where(self) -> str:
        return f"the server at {self.base_url}"

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.base_url, headers=self._headers,
                                             timeout=httpx.Timeout(self.timeout, connect=CONNECT_TIMEOUT))
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # failures -------------------------------------------------------------------------------

    def list_hint(self) -> str:
        return f"ember --host {self.label} list"

    def unreachable(self, exc: httpx.HTTPError) -> RemoteError:
        why = "no answer to the connection" if isinstance(exc, httpx.TimeoutException) else reason(exc)
        return RemoteError(f"cannot reach {self.where} ({why}) — is it running, and is the address right? "
                           "Without --host (and EMBER_HOST), ember uses this machine")

    def timed_out(self, started: bool) -> RemoteError:
        if started:
            return RemoteError(f"{self.where} stopped sending for {self.timeout:g} s in the middle of the answer "
                               "— it may be overloaded; try again (EMBER_REMOTE_TIMEOUT sets the wait)")
        return RemoteError(f"{self.where} sent nothing for {self.timeout:g} s — it may be loading the model or "
                           "busy; try again, or wait longer with EMBER_REMOTE_TIMEOUT=600")

    def broken(self, exc: Exception, started: bool) -> RemoteError:
        if started:
            return RemoteError(f"{self.where} closed the connection in the middle of the answer ({reason(exc)}) "
                               "— it may have crashed or restarted; check its log, then try again")
        return RemoteError(f"{self.where} closed the connection before answering ({reason(exc)}) "
                           "— check its log, then try again")

    def refused(self, status: int, message: str) -> Unauthorized:
        if not self.has_key:
            return Unauthorized(f"{self.where} needs an API key ({status}: {message}) — set EMBER_API_KEY, "
                                "or key_env for a named remote (ember remote add NAME URL --key-env VAR)")
        return Unauthorized(f"{self.where} refused the API key ({status}: {message}) — check the key in "
                            "EMBER_API_KEY (or the remote's key_env variable)")

    def failed(self, status: int, message: str, model: str | None) -> EmberError:
        if status in (401, 403):
            return self.refused(status, message)
        if status == 404 and model:
            return RemoteModelNotFound(model, self.where, self.list_hint())
        if status == 404:
            return RemoteError(f"{self.where} has no such endpoint ({message}) — is it an {self.kind} server? "
                               "Force the protocol with --api ollama or --api openai")
        if 400 <= status < 500:
            return InvalidRequest(message)
        return RemoteError(f"{self.where} failed ({status}: {message}) — check its log")

    # requests -------------------------------------------------------------------------------

    async def _send(self, request: httpx.Request, stream: bool) -> httpx.Response:
        for attempt in range(self.retries):
            try:
                return await self.client.send(request, stream=stream)
            except _CONNECTING as exc:
                if attempt + 1 >= self.retries:
                    raise self.unreachable(exc) from None
                await asyncio.sleep(BACKOFF * 2**attempt)
            except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                raise self.unreachable(exc) from None
            except httpx.TimeoutException:
                raise self.timed_out(started=False) from None
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise self.broken(exc, started=False) from None
        raise AssertionError("unreachable")

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None,
                   model: str | None = None) -> httpx.Response:
        """One request and its whole answer; an error status becomes the matching EmberError."""
        response = await self._send(self.client.build_request(method, path, json=body), stream=False)
        if response.status_code >= 400:
            raise self.failed(response.status_code, message_of(response), model)
        return response

    async def fetch(self, shape: type[M], method: str, path: str, body: dict[str, Any] | None = None,
                    model: str | None = None) -> M:
        """`call`, its JSON answer read as the wire model `shape`."""
        response = await self.call(method, path, body, model)
        try:
            data = response.json()
        except ValueError:
            raise RemoteError(f"{self.where} answered {path} with something that is not JSON "
                              f"({_one_line(response.text, 80)!r}) — is it an {self.kind} server?") from None
        return self.read(shape, data, path)

    def read(self, shape: type[M], data: object, path: str) -> M:
        """One JSON answer (or streamed line) of `path` as the wire model `shape`, or a one-line error."""
        try:
            return shape.model_validate(data, strict=False)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "the body"
            raise RemoteError(f"{self.where} answered {path} in a shape ember does not know ({where}: "
                              f"{first.get('msg', 'invalid')}) — is it an {self.kind} server?") from None

    async def exists(self, path: str) -> bool:
        """Whether a HEAD request for `path` finds it (200)."""
        response = await self._send(self.client.build_request("HEAD", path), stream=False)
        return response.status_code == 200

    async def upload(self, path: str, content: AsyncIterator[bytes]) -> None:
        """POST a body of any size, for as long as it takes to send."""
        request = self.client.build_request("POST", path, content=content, timeout=httpx.Timeout(None, connect=10))
        response = await self._send(request, stream=False)
        if response.status_code >= 400:
            raise self.failed(response.status_code, message_of(response), None)

    @asynccontextmanager
    async def stream(self, path: str, body: dict[str, Any], model: str | None,
                     headers: dict[str, str] | None = None) -> AsyncIterator[httpx.Response]:
        """A streamed POST; reading its body must go through `read_errors`."""
        request = self.client.build_request("POST", path, json=body, headers=headers)
        response = await self._send(request, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise self.failed(response.status_code, message_of(response), model)
            yield response
        finally:
            await response.aclose()

    def read_error(self, exc: httpx.HTTPError, started: bool) -> RemoteError:
        """What a failure while reading a streamed answer means to the user."""
        if isinstance(exc, httpx.TimeoutException):
            return self.timed_out(started)
        return self.broken(exc, started)


def message_of(response: httpx.Response) -> str:
    """The error text of a JSON error body (Ollama's `error`, OpenAI's `error.message`, vLLM's `message`)."""
    try:
        data = response.json()
    except ValueError:
        return _one_line(response.text) or response.reason_phrase
    if not isinstance(data, dict):
        return response.reason_phrase
    error = data.get("error") or data.get("message") or data.get("detail")
    if isinstance(error, dict):
        error = error.get("message")
    return _one_line(str(error or response.reason_phrase))


def _one_line(text: str, limit: int = 240) -> str:
    """A server's message (some send a traceback) as one line of at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reason(exc: BaseException) -> str:
    """Why a request failed, in a few words."""
    cause: BaseException | None = exc
    while cause is not None:  # the async client says "All connection attempts failed"; its cause says why
        if isinstance(cause, ConnectionRefusedError) or "Connection refused" in str(cause):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else exc.__class__.__name__
