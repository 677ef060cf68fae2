"""Choose how a model's conversation becomes prompt text: its Modelfile TEMPLATE or its GGUF template."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ember.backend.prompt.jinja import render_chat
from ember.backend.store.modelrecord import ModelRecord
from ember.backend.types import Message


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
    chosen = template if template is not None else record.template
    if chosen and not is_jinja(chosen):
        from ember.backend.prompt.gotemplate import render_ollama_template

        return render_ollama_template(chosen, messages, tools=tools, suffix=suffix, think=think, cancel=cancel)
    jinja = chosen or record.meta.chat_template or None
    return render_chat(jinja, messages, bos_token=bos, eos_token=eos, tools=tools, think=think, cancel=cancel)
