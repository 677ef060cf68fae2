"""Running the slash commands of a chat: each one against the Backend and the ChatSession."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ember.backend.errors import EmberError, ModelNotFound
from ember.backend.parameters import PARAMETERS, coerce, suggest
from ember.backend.types import Chunk
from ember.tui.chat.codeblocks import code_blocks
from ember.tui.chat.slash import SHORTCUTS, Command, CommandError, help_text, parse_command
from ember.tui.cli.format import model_description, parameter_lines

if TYPE_CHECKING:
    from ember.tui.chat.session import ChatSession


def unquoted(text: str) -> str:
    """The text inside one pair of double quotes around all of it; any other text as it is."""
    if len(text) >= 2 and text[0] == text[-1] == '"' and '"' not in text[1:-1]:
        return text[1:-1]
    return text


@dataclass
class Outcome:
    text: str = ""
    quit: bool = False
    answer: AsyncIterator[Chunk] | None = None  # /retry streams a new answer
    copy: str = ""  # text the front end should put on the clipboard
    error: bool = False  # the command could not run as typed; `text` says why


async def run_command(session: ChatSession, line: str) -> Outcome:
    return await _Runner(session).command(line)


class _Runner:
    def __init__(self, session: ChatSession) -> None:
        self.session = session
        self.state = session.state
        self.backend = session.backend
        self.history = session.history

    async def command(self, line: str) -> Outcome:
        try:
            command = parse_command(line)
            return await self._run(command)
        except CommandError as exc:
            return Outcome(str(exc), error=True)
        except EmberError as exc:
            return Outcome(f"Error: {exc}", error=True)

    async def _run(self, c: Command) -> Outcome:
        s = self.state
        match c.name:
            case "/?":
                return Outcome(SHORTCUTS if c.args[:1] == ("shortcuts",) else help_text())
            case "/bye":
                return Outcome(quit=True)
            case "/clear":
                self.session.clear()
                return Outcome("Cleared session context")
            case "/set parameter":
                return Outcome(self._set_parameter(c.args))
            case "/set system":
                s.system = unquoted(c.rest.strip())
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
            case "/set think":
                level = c.rest.strip().lower()
                if level not in ("", "low", "medium", "high"):
                    raise CommandError('Usage: /set think [low|medium|high]')
                s.think = level or True
                return Outcome(f"Set 'think' mode{f' ({level})' if level else ''}.")
            case "/set nothink":
                s.think = False
                return Outcome("Set 'nothink' mode.")
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
            case "/image":
                return Outcome(await self._image(c))
            case "/retry":
                return self._retry()
            case "/copy":
                return self._copy(c.args)
            case "/export":
                return Outcome(self._export(c.rest.strip()))
            case "/search":
                return Outcome(self._search(c.rest.strip()))
        return await self._show(c.name.split()[1])

    async def _image(self, c: Command) -> str:
        path = c.args[0] if len(c.args) == 1 else c.rest.strip().replace("\\ ", " ")
        if not path:
            raise CommandError("/image needs the path of a PNG, JPEG or WebP file")
        image = await self.session.images.attach(self.state.model, path)
        return f"Added image '{image.path}'"

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
        self.state.from_panel.discard(name)
        return f"Set parameter '{name}' to '{', '.join(values)}'"

    async def _load(self, args: tuple[str, ...]) -> str:
        if len(args) != 1:
            raise CommandError("Usage: /load MODEL")
        try:
            await self.backend.show(args[0])
        except ModelNotFound:
            raise CommandError(f'model "{args[0]}" not found — run "ember pull {args[0]}" first') from None
        self.session.model = args[0]
        return f"Loading model '{args[0]}'"

    def session_modelfile(self) -> str:
        """The Modelfile of this chat: model, system prompt, parameters and the turns so far."""
        lines = [f"FROM {self.state.model}"]
        system = self.session.effective_system()
        if system:
            lines.append(f'SYSTEM """{system}"""')
        for name, value in self.session.effective_options().items():
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
        personas = self.session.personas
        if not name:
            return "Personas: " + ", ".join(p.slug for p in personas)
        match = next((p for p in personas if name.lower() in (p.slug.lower(), p.title.lower())), None)
        if match is None:
            raise CommandError(f'no persona "{name}" — choose one of: {", ".join(p.slug for p in personas)}')
        self.session.set_persona(match)
        return f"Persona '{match.title}' — its system prompt and parameters apply from the next answer."

    def _retry(self) -> Outcome:
        self.session.prepare_retry()
        return Outcome(answer=self.session.answer())

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
            return Outcome(self._parameters(info.parameters))
        if what == "system":
            return Outcome(self.session.effective_system() or info.system or "No system message was specified for this model.")
        if what == "template":
            return Outcome(info.template or "No prompt template was specified for this model.")
        if what == "license":
            return Outcome(info.license or "No license was specified for this model.")
        return Outcome(model_description(info))

    def _parameters(self, model: dict[str, object]) -> str:
        """The chat's own parameters (a persona's and /set ones), then the model's, as Ollama lists them."""
        chat = self.session.effective_options()
        if not model and not chat:
            return "No parameters were specified for this model."
        sections = []
        if chat:
            sections.append("\n".join(["User defined parameters:", *parameter_lines(chat)]))
        if model:
            sections.append("\n".join(["Model defined parameters:", *parameter_lines(model)]))
        return "\n\n".join(sections)
