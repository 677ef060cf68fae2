"""Choose how a model's conversation becomes prompt text: its Modelfile TEMPLATE or its GGUF template."""

from __future__ import annotations

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


def render_prompt(record: ModelRecord, messages: Sequence[Message], *, bos: str, eos: str,
                  tools: list[dict[str, Any]] | None = None, template: str | None = None,
                  think: bool | str | None = None) -> str:
    """Prompt text for `messages` (already including the persona) ready to tokenise.

    `think` (True/False or a level; None leaves the template's default) is the template's thinking switch.
    """
    go_template = template if template is not None else record.template
    if go_template:
        from ember.backend.prompt.gotemplate import render_ollama_template

        return render_ollama_template(go_template, messages, tools=tools, think=think)
    return render_chat(record.meta.chat_template or None, messages, bos_token=bos, eos_token=eos, tools=tools,
                       think=think)
