"""One conversation and its settings, shared by the plain REPL and the app: turns and slash commands.

It speaks only to the Backend interface, so a remote server gets the same commands; a persona's
system prompt, MESSAGE turns and parameters are applied here, client-side.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.errors import EmberError, ModelNotFound
from backend.parameters import PARAMETERS, coerce, suggest
from backend.service import Backend
from backend.types import ChatRequest, Chunk, Message, Timings
from tui.chatcommands import SHORTCUTS, Command, CommandError, help_text, parse_command
from tui.codeblocks import code_blocks


@dataclass
class ChatState:
    model: str
    system: str | None = None  # /set system; None = the persona's or the model's own
    options: dict[str, Any] = field(default_factory=dict)  # /set parameter
    format: str | None = None
    keep_history: bool = True
    verbose: bool = False
    persona: Any = None  # backend.personas.Persona
    messages: list[Message] = field(default_factory=list)


@dataclass
class Outcome:
    text: str = ""
    quit: bool = False
    answer: AsyncIterator[Chunk] | None = None  # /retry streams a new answer
    copy: str = ""  # text the front end should put on the clipboard


class ChatSession:
    def __init__(self, backend: Backend, state: ChatState, history: Any = None) -> None:
        self.backend = backend
        self.state = state
        self.history = history  # backend.history.History or None
        self.conversation_id: int | None = None
        self.last_timings: Timings | None = None

    # turns ------------------------------------------------------------------------------------

    def effective_options(self) -> dict[str, Any]:
        persona = self.state.persona
        return {**(dict(persona.parameters) if persona else {}), **self.state.options}

    def effective_system(self) -> str | None:
        if self.state.system is not None:
            return self.state.system
        return self.state.persona.system if self.state.persona else None

    def request(self) -> ChatRequest:
        messages: list[Message] = []
        system = self.effective_system()
        if system:
            messages.append(Message("system", system))
        if self.state.persona:
            messages.extend(self.state.persona.messages)
        messages.extend(self.state.messages)
        return ChatRequest(model=self.state.model, messages=messages, options=self.effective_options(),
                           format=self.state.format)

    def _persist(self, role: str, content: str) -> None:
        if self.history is None or not self.state.keep_history:
            return
        persona = self.state.persona.slug if self.state.persona else ""
        if self.conversation_id is None:
            self.conversation_id = self.history.new_conversation(model=self.state.model, persona=persona).id
        self.history.add_message(self.conversation_id, role, content, model=self.state.model, persona=persona)

    async def send(self, text: str) -> AsyncIterator[Chunk]:
        """Add a user message (saved at once) and stream the answer; the answer is kept even if cut short."""
        self.state.messages.append(Message("user", text))
        self._persist("user", text)
        async for chunk in self._answer():
            yield chunk

    async def _answer(self) -> AsyncIterator[Chunk]:
        parts: list[str] = []
        try:
            async for chunk in self.backend.chat(self.request()):
                parts.append(chunk.text)
                if chunk.done:
                    self.last_timings = chunk.timings
                yield chunk
        finally:
            answer = "".join(parts)
            if answer:
                self.state.messages.append(Message("assistant", answer))
                self._persist("assistant", answer)

    # commands ---------------------------------------------------------------------------------

    async def command(self, line: str) -> Outcome:
        try:
            command = parse_command(line)
            return await self._run(command)
        except CommandError as exc:
            return Outcome(str(exc))
        except ModelNotFound as exc:
            return Outcome(f"Error: {exc}")
        except EmberError as exc:
            return Outcome(f"Error: {exc}")

    async def _run(self, c: Command) -> Outcome:
        s = self.state
        match c.name:
            case "/?":
                return Outcome(SHORTCUTS if c.args[:1] == ("shortcuts",) else help_text())
            case "/bye":
                return Outcome(quit=True)
            case "/clear":
                s.messages.clear()
                self.conversation_id = None
                return Outcome("Cleared session context")
            case "/set parameter":
                return Outcome(self._set_parameter(c.args))
            case "/set system":
                s.system = c.rest.strip().strip('"')
                return Outcome("Set system message.")
            case "/set format":
                if c.rest.strip() != "json":
                    raise CommandError('only "/set format json" is supported')
                s.format = "json"
                return Outcome("Set format to 'json' mode.")
            case "/set noformat":
                s.format = None
                return Outcome("Disabled format.")
            case "/set history" | "/set nohistory":
                s.keep_history = c.name == "/set history"
                return Outcome("Set history." if s.keep_history else "Set 'nohistory' mode.")
            case "/set verbose" | "/set quiet":
                s.verbose = c.name == "/set verbose"
                return Outcome("Set 'verbose' mode." if s.verbose else "Set 'quiet' mode.")
            case "/set wordwrap" | "/set nowordwrap":
                return Outcome("Set 'wordwrap' mode." if c.name == "/set wordwrap" else "Set 'nowordwrap' mode.")
            case "/load":
                return Outcome(await self._load(c.args))
            case "/save":
                return Outcome(await self._save(c.args))
            case "/persona":
                return Outcome(self._persona(c.rest.strip()))
            case "/retry":
                return self._retry()
            case "/copy":
                return self._copy(c.args)
            case "/export":
                return Outcome(self._export(c.rest.strip()))
            case "/search":
                return Outcome(self._search(c.rest.strip()))
        return await self._show(c.name.split()[1])

    def _set_parameter(self, args: tuple[str, ...]) -> str:
        if len(args) < 2:
            raise CommandError("Usage: /set parameter NAME VALUE — e.g. /set parameter temperature 0.2")
        name, values = args[0], args[1:]
        if name not in PARAMETERS:
            raise CommandError(f'Unknown parameter "{name}"{suggest(name)}')
        try:
            value = coerce(name, list(values) if PARAMETERS[name].repeatable else values[0])
        except EmberError as exc:
            raise CommandError(f"Couldn't set parameter: {exc}") from None
        self.state.options[name] = list(value) if isinstance(value, tuple) else value
        return f"Set parameter '{name}' to '{', '.join(values)}'"

    async def _load(self, args: tuple[str, ...]) -> str:
        if len(args) != 1:
            raise CommandError("Usage: /load MODEL")
        try:
            await self.backend.show(args[0])
        except ModelNotFound:
            raise CommandError(f'model "{args[0]}" not found — run "ember pull {args[0]}" first') from None
        self.state.model = args[0]
        return f"Loading model '{args[0]}'"

    def session_modelfile(self) -> str:
        """The Modelfile of this chat: model, system prompt, parameters and the turns so far."""
        lines = [f"FROM {self.state.model}"]
        system = self.effective_system()
        if system:
            lines.append(f'SYSTEM """{system}"""')
        for name, value in self.effective_options().items():
            for item in value if isinstance(value, list) else [value]:
                lines.append(f"PARAMETER {name} {json.dumps(item) if isinstance(item, str) else item}")
        persona_turns = list(self.state.persona.messages) if self.state.persona else []
        for message in persona_turns + self.state.messages:
            if message.role in ("user", "assistant", "system"):
                lines.append(f'MESSAGE {message.role} """{message.content}"""')
        return "\n".join(lines) + "\n"

    async def _save(self, args: tuple[str, ...]) -> str:
        if len(args) != 1:
            raise CommandError("Usage: /save NAME")
        async for _ in self.backend.create(args[0], self.session_modelfile()):
            pass
        return f"Created new model '{args[0]}'"

    def _persona(self, name: str) -> str:
        from backend.personas import load_personas

        personas = load_personas()
        if not name:
            return "Personas: " + ", ".join(p.slug for p in personas)
        match = next((p for p in personas if name.lower() in (p.slug.lower(), p.title.lower())), None)
        if match is None:
            raise CommandError(f'no persona "{name}" — choose one of: {", ".join(p.slug for p in personas)}')
        self.state.persona = match
        self.state.system = None
        return f"Persona '{match.title}' — its system prompt and parameters apply from the next answer."

    def _retry(self) -> Outcome:
        messages = self.state.messages
        if not any(m.role == "user" for m in messages):
            raise CommandError("nothing to retry yet")
        while messages and messages[-1].role != "user":
            messages.pop()
        return Outcome(answer=self._answer())

    def _copy(self, args: tuple[str, ...]) -> Outcome:
        last = next((m.content for m in reversed(self.state.messages) if m.role == "assistant"), "")
        blocks = code_blocks(last)
        if not blocks:
            raise CommandError("the last answer has no code block to copy")
        try:
            index = int(args[0]) if args else len(blocks)
        except ValueError:
            raise CommandError("Usage: /copy [N] — N is the number of the code block") from None
        if not 1 <= index <= len(blocks):
            raise CommandError(f"the last answer has {len(blocks)} code block(s); choose 1 to {len(blocks)}")
        block = blocks[index - 1]
        lines = block.code.count("\n") + (0 if block.code.endswith("\n") else 1)
        return Outcome(f"Copied code block {index} ({block.language or 'text'}, {lines} lines)", copy=block.code)

    def _export(self, target: str) -> str:
        if not target:
            raise CommandError("Usage: /export FILE.md")
        path = Path(target).expanduser()
        lines = [f"# Conversation with {self.state.model}", ""]
        for message in self.state.messages:
            lines += [f"## {message.role.capitalize()}", "", message.content.rstrip(), ""]
        try:
            path.write_text("\n".join(lines), encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"could not write {path}: {exc.strerror}") from None
        return f"Wrote {len(self.state.messages)} messages to {path}"

    def _search(self, text: str) -> str:
        if not text:
            raise CommandError("Usage: /search TEXT")
        if self.history is None:
            raise CommandError("history is off in this session")
        hits = self.history.search(text)
        if not hits:
            return f'Nothing in your history matches "{text}"'
        return "\n".join(f"#{h.conversation.id}  {h.conversation.title[:40]:<40}  {h.snippet}" for h in hits[:20])

    async def _show(self, what: str) -> Outcome:
        info = await self.backend.show(self.state.model)
        if what == "modelfile":
            return Outcome(self.session_modelfile())
        if what == "parameters":
            options = {**info.parameters, **self.effective_options()}
            if not options:
                return Outcome("No parameters were specified for this model.")
            return Outcome("\n".join(f"{k:<20}{v}" for k, v in options.items()))
        if what == "system":
            return Outcome(self.effective_system() or info.system or "No system message was specified for this model.")
        if what == "template":
            return Outcome(info.template or "No prompt template was specified for this model.")
        if what == "license":
            return Outcome(info.license or "No license was specified for this model.")
        d = info.details
        return Outcome("\n".join([
            "  Model",
            f"    architecture      {d.family}",
            f"    parameters        {d.parameter_size}",
            f"    quantization      {d.quantization_level}",
        ]))
