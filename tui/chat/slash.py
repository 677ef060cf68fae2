"""The slash commands people type in `ollama run`, plus ember's own: parsed here, run by ChatSession."""

from __future__ import annotations

import difflib
import os
import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandSpec:
    name: str  # "/set parameter"
    syntax: str
    help: str


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("/set parameter", "/set parameter NAME VALUE", "set a generation parameter"),
    CommandSpec("/set system", "/set system TEXT", "set the system prompt"),
    CommandSpec("/set format", "/set format json", "answer in JSON"),
    CommandSpec("/set noformat", "/set noformat", "answer in free text again"),
    CommandSpec("/set history", "/set history", "keep this conversation in history"),
    CommandSpec("/set nohistory", "/set nohistory", "stop saving this conversation"),
    CommandSpec("/set think", "/set think [low|medium|high]", "let a thinking model think before it answers"),
    CommandSpec("/set nothink", "/set nothink", "ask a thinking model to answer without thinking"),
    CommandSpec("/set verbose", "/set verbose", "show timings after each answer"),
    CommandSpec("/set quiet", "/set quiet", "hide timings"),
    CommandSpec("/set wordwrap", "/set wordwrap", "wrap long lines (accepted for Ollama compatibility)"),
    CommandSpec("/set nowordwrap", "/set nowordwrap", "do not wrap (accepted for Ollama compatibility)"),
    CommandSpec("/show info", "/show info", "details of the model"),
    CommandSpec("/show license", "/show license", "the model's licence"),
    CommandSpec("/show modelfile", "/show modelfile", "the Modelfile of this chat"),
    CommandSpec("/show parameters", "/show parameters", "the parameters in effect"),
    CommandSpec("/show system", "/show system", "the system prompt"),
    CommandSpec("/show template", "/show template", "the prompt template"),
    CommandSpec("/load", "/load MODEL", "switch model, keeping the conversation"),
    CommandSpec("/save", "/save NAME", "save model, system prompt, parameters and conversation as a model"),
    CommandSpec("/persona", "/persona NAME", "switch persona, keeping the conversation"),
    CommandSpec("/image", "/image PATH", "attach an image to the next message (a model that sees)"),
    CommandSpec("/retry", "/retry", "answer the last message again"),
    CommandSpec("/copy", "/copy [N]", "copy the last answer's code block N (default: the last one)"),
    CommandSpec("/export", "/export FILE.md", "write the conversation as Markdown"),
    CommandSpec("/search", "/search TEXT", "search the conversation history"),
    CommandSpec("/clear", "/clear", "forget the conversation so far"),
    CommandSpec("/bye", "/bye", "leave"),
    CommandSpec("/?", "/? [shortcuts]", "this help"),
)

SHORTCUTS = """Available keyboard shortcuts:
  Ctrl + a            Move to the beginning of the line
  Ctrl + e            Move to the end of the line
  Ctrl + r            Search your earlier messages
  Up / Down           Earlier / later messages
  Tab                 Complete a command, parameter, model or persona
  Ctrl + c            Stop the answer
  Ctrl + d            Leave (on an empty line)
  \"\"\"                 Begin and end a multi-line message"""


class CommandError(Exception):
    """A command that cannot run as typed; the message says what to type instead."""


@dataclass(frozen=True)
class Command:
    name: str  # the spec name, e.g. "/set parameter"
    args: tuple[str, ...]
    rest: str  # the text after the command name, unsplit (for /set system)


def help_text() -> str:
    width = max(len(s.syntax) for s in SPECS) + 2
    lines = ["Available Commands:"] + [f"  {s.syntax:<{width}}{s.help}" for s in SPECS]
    lines.append('\nUse """ to begin a multi-line message.')
    return "\n".join(lines)


def is_command(line: str) -> bool:
    return line.lstrip().startswith("/")


def syntax_hint(line: str) -> str:
    """The syntax of the command being typed, for the app's hint line."""
    text = line.lstrip()
    matches = [s for s in SPECS if s.name.startswith(text.split(" ")[0]) and (text + " ").startswith(s.name[: len(text)])]
    exact = [s for s in SPECS if text == s.name or text.startswith(s.name + " ")]
    chosen = exact or matches
    return "   ".join(s.syntax for s in chosen[:4])


def needs_arguments(spec: CommandSpec) -> bool:
    """Whether the command cannot run without something typed after it (NAME, TEXT, FILE.md …)."""
    extra = spec.syntax[len(spec.name):].split()
    return any(word[:1].isupper() for word in extra)


def completions(text: str, models: list[str], personas: list[str]) -> list[str]:
    """Whole-line completions of `text`: a command, a parameter name, a model or a persona."""
    from ember.backend.parameters import PARAMETERS

    if not text.startswith("/"):
        return []
    if text.startswith("/set parameter "):
        choices = [f"/set parameter {p}" for p in PARAMETERS]
    elif text.startswith("/load "):
        choices = [f"/load {m}" for m in models]
    elif text.startswith("/persona "):
        choices = [f"/persona {p}" for p in personas]
    else:
        choices = sorted({s.name for s in SPECS})
    return [choice for choice in choices if choice.startswith(text) and choice != text]


def complete(text: str, models: list[str], personas: list[str]) -> tuple[str, list[str]]:
    """What Tab makes of `text`: the line completed as far as it is unambiguous (with a space after a
    command or parameter that needs more), and the choices left when there are several."""
    choices = completions(text, models, personas)
    if len(choices) == 1:
        completed = choices[0]
        spec = next((s for s in SPECS if s.name == completed), None)
        if (spec is not None and needs_arguments(spec)) or completed.startswith("/set parameter "):
            completed += " "
        return completed, []
    prefix = os.path.commonprefix(choices) if choices else text
    return max(prefix, text, key=len), choices


def multiline_open(text: str) -> bool:
    '''A message begun with """ and not yet closed: Enter adds a line instead of sending.'''
    body = text.lstrip()
    return body.startswith('"""') and '"""' not in body[3:]


def multiline_body(text: str) -> str:
    '''The message inside """ … """ (the text itself when it is not quoted that way).'''
    body = text.strip()
    if not body.startswith('"""'):
        return text
    return body[3:].split('"""', 1)[0].strip("\n")


def parse_command(line: str) -> Command:
    text = line.strip()
    words = text.split(None, 2)
    head = words[0]
    if head in ("/exit", "/quit"):
        head = "/bye"
    if head in ("/help", "/?"):
        return Command("/?", tuple(words[1:]), text[len(words[0]) :].strip())
    if head in ("/set", "/show"):
        if len(words) < 2:
            options = ", ".join(s.name.split()[1] for s in SPECS if s.name.startswith(head + " "))
            raise CommandError(f"{head} needs a subcommand: {options}")
        name = f"{head} {words[1]}"
        spec = next((s for s in SPECS if s.name == name), None)
        if spec is None:
            raise CommandError(_unknown(name))
        rest = words[2] if len(words) > 2 else ""
        return Command(name, tuple(_split(rest)), rest)
    spec = next((s for s in SPECS if s.name == head), None)
    if spec is None:
        raise CommandError(_unknown(head))
    rest = text[len(words[0]) :].strip()
    return Command(head, tuple(_split(rest)), rest)


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _unknown(name: str) -> str:
    close = difflib.get_close_matches(name, [s.name for s in SPECS], n=1, cutoff=0.6)
    hint = f' — did you mean "{close[0]}"?' if close else ""
    return f"Unknown command '{name}'{hint} — type /? for help"
