"""Whether each named remote answers, and what it serves: all of them at once, each within a short timeout.

`ember remote list` prints this; a front end that groups models by endpoint (local, then each
remote) can run it in the background, so an endpoint that never answers delays nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ember.backend.errors import EmberError, RemoteError, Unauthorized
from ember.backend.remote.endpoints import Remote, Target, open_endpoint, target
from ember.backend.types import ModelSummary

PROBE_TIMEOUT = 3.0


@dataclass
class RemoteStatus:
    name: str
    url: str
    api: str  # what it speaks ("ollama", "openai"), or what it is configured as when it does not answer
    status: str  # "answers, 3 models" | "no answer" | "unreachable" | "needs a key" | "refused the key" | …
    answers: bool = False
    models: list[ModelSummary] = field(default_factory=list)


async def probe(where: Target, timeout: float = PROBE_TIMEOUT) -> RemoteStatus:
    """One endpoint within `timeout`; a server's failure is its status, never an exception."""
    from ember.backend.remote.detect import Endpoint, detect_async

    def failed(status: str) -> RemoteStatus:
        return RemoteStatus(where.label, where.address, where.api or "", status)

    async def ask() -> tuple[Endpoint, list[ModelSummary]]:
        endpoint = await detect_async(where.address, where.api, where.api_key, timeout)
        backend = open_endpoint(endpoint, where, lambda _: None)
        try:
            return endpoint, await backend.list_models()
        finally:
            await backend.close()

    try:
        endpoint, models = await asyncio.wait_for(ask(), timeout)
    except TimeoutError:
        return failed("no answer")
    except Unauthorized:
        return failed("refused the key" if where.api_key else "needs a key")
    except RemoteError as exc:
        text = str(exc)
        return failed("no answer" if "no answer" in text else "unreachable" if "cannot reach" in text
                      else "not an Ollama/OpenAI API")
    except EmberError as exc:
        return failed(f"error: {str(exc)[:60]}")
    count = len(models)
    return RemoteStatus(where.label, endpoint.url, endpoint.api, f"answers, {count} model{'s' if count != 1 else ''}",
                        answers=True, models=models)


async def probe_all(remotes: dict[str, Remote], timeout: float = PROBE_TIMEOUT) -> list[RemoteStatus]:
    """Every remote at once, in the order given; the whole takes about `timeout` at most."""
    return list(await asyncio.gather(*(probe(target(name, None, "", remotes), timeout) for name in remotes)))
