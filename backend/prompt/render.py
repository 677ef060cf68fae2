"""Choose how a model's conversation becomes prompt text: its Modelfile TEMPLATE or its GGUF template."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ember.backend.errors import Cancelled, TemplateError
from ember.backend.prompt.jinja import render_chat
from ember.backend.store.modelrecord import ModelRecord
from ember.backend.types import Message

# Templates sent with a request render one at a time: however many a client sends at once, together they
# take one thread's share of the machine, and the requests that use their model's own template never wait.
_REQUEST_TEMPLATES = threading.BoundedSemaphore(1)
REFUSED_COOLDOWN = 4.0
MAX_COOLDOWN = 10.0  # seconds


@contextmanager
def _one_at_a_time(cancel: threading.Event | None) -> Iterator[None]:
    while not _REQUEST_TEMPLATES.acquire(timeout=0.05):
        if cancel is not None and cancel.is_set():
            raise Cancelled("the request was cancelled while its template waited to render")
    started = time.monotonic()
    try:
        yield
    except TemplateError:
        # A template over its limits keeps the next one waiting for REFUSED_COOLDOWN times what it spent, so
        # clients that send nothing else hold at most a fifth of one thread; a valid template pays nothing.
        time.sleep(min(REFUSED_COOLDOWN * (time.monotonic() - started), MAX_COOLDOWN))
        raise
    finally:
        _REQUEST_TEMPLATES.release()


def with_persona(record: ModelRecord, messages: Sequence[Message], system: str | None = None) -> list[Message]:
    """The model's SYSTEM and MESSAGE turns, then the conversation; a system message in it wins."""
    result: list[Message] = []
    has_system = any(m.role == "system" for m in messages)
    system_text = system if system is not None else record.system
    if system_text and not has_system:
        result.append(Message("system", system_text))
    result.extend(record.messages)
    result.extend(messages)
    return result


def is_jinja(template: str) -> bool:
    """A GGUF-style Jinja chat template rather than Ollama's Go syntax (which never writes `{%`)."""
    return "{%" in template


def render_prompt(record: ModelRecord, messages: Sequence[Message], *, bos: str, eos: str,
                  tools: list[dict[str, Any]] | None = None, template: str | None = None,
                  suffix: str = "", think: bool | str | None = None,
                  cancel: threading.Event | None = None) -> str:
    """Prompt text for `messages` (already including the persona) ready to tokenise.

    Runs the template under its rendering limits (backend/prompt/budget.py) and stops when `cancel`
    is set; call it from a worker thread, never the event loop. A Modelfile TEMPLATE in Jinja (what
    `show` gives for a model that uses its GGUF's template) runs in the same sandbox as the GGUF's own.
    `think` (True/False or a level; None leaves the template's default) is the template's thinking switch.
    """
    if template is not None:  # the request's own: its render waits for the one before it (time limit from then)
        with _one_at_a_time(cancel):
            return _render(record, messages, template, bos=bos, eos=eos, tools=tools, suffix=suffix, think=think,
                           cancel=cancel)
    return _render(record, messages, record.template, bos=bos, eos=eos, tools=tools, suffix=suffix, think=think,
                   cancel=cancel)


def _render(record: ModelRecord, messages: Sequence[Message], chosen: str | None, *, bos: str, eos: str,
            tools: list[dict[str, Any]] | None, suffix: str, think: bool | str | None,
            cancel: threading.Event | None) -> str:
    if chosen and not is_jinja(chosen):
        from ember.backend.prompt.gotemplate import render_ollama_template

        return render_ollama_template(chosen, messages, tools=tools, suffix=suffix, think=think, cancel=cancel)
    jinja = chosen or record.meta.chat_template or None
    return render_chat(jinja, messages, bos_token=bos, eos_token=eos, tools=tools, think=think, cancel=cancel)
