"""Modelfiles: Ollama's recipe format for a model (FROM, PARAMETER, TEMPLATE, SYSTEM, …).

`parse_modelfile` reads one into a `Modelfile`; `render_modelfile` writes one back, so that
`parse_modelfile(render_modelfile(m)) == m`. Instructions are case-insensitive, a line whose first
character is `#` is a comment, and a value is bare (the rest of the line), `"quoted"` (the escapes
\\" \\\\ \\n \\t \\r \\uXXXX, so a JSON string is one; it may run over several lines) or
`\"\"\"multi-line\"\"\"` (taken literally).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from ember.backend.errors import EmberError, ModelfileError
from ember.backend.parameters import PARAMETERS, coerce, suggest
from ember.backend.store.modelrecord import ModelRecord
from ember.backend.store.modelstore import MEDIA_LICENSE
from ember.backend.types import Message

INSTRUCTIONS = ("FROM", "PARAMETER", "TEMPLATE", "SYSTEM", "ADAPTER", "LICENSE", "MESSAGE")
ROLES = ("system", "user", "assistant")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_PARAM_NAME = re.compile(r"[A-Za-z0-9_]+")
_UNICODE = re.compile(r"\\u([0-9a-fA-F]{4})")


@dataclass(frozen=True)
class Modelfile:
    base: str  # the FROM value: a model name, or a path to a GGUF file or a model folder
    parameters: dict[str, object] = field(default_factory=dict)  # checked and typed by backend.parameters
    template: str | None = None
    system: str | None = None
    adapters: tuple[str, ...] = ()
    messages: tuple[Message, ...] = ()
    license: tuple[str, ...] = ()
    projectors: tuple[str, ...] = ()  # a second FROM: a vision projector (mmproj GGUF), as Ollama takes it
    lines: dict[str, int] = field(default_factory=dict, compare=False)  # instruction -> line, for errors


def names_a_file(value: str) -> bool:
    """Whether a FROM or ADAPTER value is a file path (`./x.gguf`, `/models/y`), not a model name."""
    return value.startswith((".", "/", "~", "\\")) or value.lower().endswith((".gguf", ".bin"))


def _join_surrogates(text: str) -> str:
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace") if any(
        "\ud800" <= c <= "\udfff" for c in text) else text


class _Reader:
    """A cursor over the Modelfile text that knows its line and column."""

    def __init__(self, text: str) -> None:
        self.text = text.replace("\r\n", "\n").removeprefix("\ufeff")
        self.pos = 0

    def where(self, pos: int | None = None) -> tuple[int, int]:
        pos = self.pos if pos is None else pos
        line = self.text.count("\n", 0, pos) + 1
        return line, pos - (self.text.rfind("\n", 0, pos) + 1) + 1

    def error(self, message: str, pos: int | None = None) -> ModelfileError:
        line, column = self.where(pos)
        return ModelfileError(message, line, column)

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_blank(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def rest_of_line(self) -> str:
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end
        value, self.pos = self.text[self.pos : end], end
        return value

    def word(self, pattern: re.Pattern[str] = re.compile(r"[^\s]+")) -> str:
        match = pattern.match(self.text, self.pos)
        if match is None:
            return ""
        self.pos = match.end()
        return match.group()

    def value(self, what: str) -> str:
        """The value after an instruction: triple-quoted, quoted or bare."""
        self.skip_blank()
        start = self.pos
        if self.text.startswith('"""', start):
            end = self.text.find('"""', start + 3)
            if end < 0:
                raise self.error(f'{what}: unterminated """ — close the text with """', start)
            value, self.pos = self.text[start + 3 : end], end + 3
        elif self.text.startswith('"', start):
            value = self._quoted(what)
        else:
            value = self.rest_of_line().strip()
            if not value:
                raise self.error(f"{what} needs a value", start)
            return value
        self.skip_blank()
        if not self.at_end() and self.text[self.pos] != "\n":
            raise self.error(f"{what}: unexpected text after the closing quote")
        return value

    def _quoted(self, what: str) -> str:
        start = self.pos
        out: list[str] = []
        pos = start + 1
        while pos < len(self.text):
            char = self.text[pos]
            if char == '"':
                self.pos = pos + 1
                return _join_surrogates("".join(out))
            if char == "\\" and pos + 1 < len(self.text) and self.text[pos + 1] in _ESCAPES:
                out.append(_ESCAPES[self.text[pos + 1]])
                pos += 2
                continue
            unicode = _UNICODE.match(self.text, pos)
            if unicode:  # JSON's \uXXXX, so a JSON string is a valid quoted value
                out.append(chr(int(unicode.group(1), 16)))
                pos = unicode.end()
                continue
            out.append(char)
            pos += 1
        raise self.error(f'{what}: unterminated " — close the text with "', start)

    def end_line(self) -> None:
        self.skip_blank()
        if not self.at_end() and self.text[self.pos] != "\n":
            raise self.error(f'unexpected text "{self.rest_of_line().strip()}"')


def parse_modelfile(text: str) -> Modelfile:
    """Parse Modelfile text; raise ModelfileError naming the line and column of the first mistake."""
    reader = _Reader(text)
    base: str | None = None
    params: dict[str, object] = {}
    template: str | None = None
    system: str | None = None
    adapters: list[str] = []
    projectors: list[str] = []
    messages: list[Message] = []
    licenses: list[str] = []
    lines: dict[str, int] = {}
    while not reader.at_end():
        reader.skip_blank()
        if reader.at_end():
            break
        char = reader.text[reader.pos]
        if char == "\n":
            reader.pos += 1
            continue
        if char == "#":
            reader.rest_of_line()
            continue
        start = reader.pos
        word = reader.word(re.compile(r"[A-Za-z]+"))
        name = word.upper()
        if name not in INSTRUCTIONS or reader.pos < len(reader.text) and reader.text[reader.pos] not in " \t\n":
            found = word + reader.word()
            close = difflib.get_close_matches(found.upper(), INSTRUCTIONS, n=1)
            hint = f' — did you mean "{close[0]}"?' if close else f" — expected one of {', '.join(INSTRUCTIONS)}"
            raise reader.error(f'unknown instruction "{found}"{hint}', start)
        line, _ = reader.where(start)
        lines.setdefault(name, line)
        if name == "FROM":
            if base is None:
                base = reader.value("FROM")
            else:
                if projectors:
                    raise reader.error(f"FROM is given three times (first on line {lines['FROM']}); a model has "
                                       "one base and at most one vision projector", start)
                projectors.append(reader.value("FROM"))
                lines["FROM projector"] = line
        elif name == "PARAMETER":
            _parameter(reader, params)
        elif name == "TEMPLATE":
            value_start = reader.pos
            template = reader.value("TEMPLATE")
            _check_template(reader, template, value_start)
        elif name == "SYSTEM":
            system = reader.value("SYSTEM")
        elif name == "ADAPTER":
            adapters.append(reader.value("ADAPTER"))
        elif name == "LICENSE":
            licenses.append(reader.value("LICENSE"))
        elif name == "MESSAGE":
            reader.skip_blank()
            role_at = reader.pos
            role = reader.word(re.compile(r"[^\s]+"))
            if role.lower() not in ROLES:
                raise reader.error(f'MESSAGE role must be system, user or assistant, got "{role}"', role_at)
            messages.append(Message(role.lower(), reader.value(f"MESSAGE {role.lower()}")))
        reader.end_line()
    if base is None:
        raise ModelfileError('no FROM line — start the Modelfile with "FROM <model or file.gguf>"')
    return Modelfile(base, params, template, system, tuple(adapters), tuple(messages), tuple(licenses),
                     tuple(projectors), lines)


def _parameter(reader: _Reader, params: dict[str, object]) -> None:
    reader.skip_blank()
    name_at = reader.pos
    name = reader.word()
    if not name:
        raise reader.error("PARAMETER needs a name and a value, e.g. PARAMETER temperature 0.7", name_at)
    key = name.lower()
    if not _PARAM_NAME.fullmatch(name) or key not in PARAMETERS:
        raise reader.error(f'unknown parameter "{name}"{suggest(key)}', name_at)
    reader.skip_blank()
    value_at = reader.pos
    raw = reader.value(f"PARAMETER {key}")
    try:
        value = coerce(key, raw)
    except EmberError as exc:
        raise reader.error(f"PARAMETER {exc}", value_at) from None
    if PARAMETERS[key].repeatable:
        params[key] = tuple(params.get(key, ())) + tuple(value)  # type: ignore[arg-type]
    else:
        params[key] = value


def _check_template(reader: _Reader, template: str, value_at: int) -> None:
    from ember.backend.prompt.gotemplate import check_template
    from ember.backend.prompt.jinja import compile_template
    from ember.backend.prompt.render import is_jinja

    try:
        if is_jinja(template):  # a GGUF's own chat template, as `show` gives it back
            compile_template(template)
            return
        check_template(template)
    except EmberError as exc:
        start = value_at + len(reader.text[value_at:]) - len(reader.text[value_at:].lstrip(" \t"))
        start += 3 if reader.text.startswith('"""', start) else 1 if reader.text.startswith('"', start) else 0
        match = re.search(r"line (\d+), column (\d+)", str(exc))
        if match:  # point at the mistake inside the template
            for _ in range(int(match.group(1)) - 1):
                start = reader.text.find("\n", start) + 1
            start += int(match.group(2)) - 1
        line, column = reader.where(start)
        raise ModelfileError(f"TEMPLATE does not parse: {exc}", line, column) from None


# --- writing -------------------------------------------------------------------------------

def quote(text: str) -> str:
    """`text` as a Modelfile value that parses back to exactly `text`."""
    plain = text and text == text.strip() and "\n" not in text and "\r" not in text and not text.startswith('"')
    if plain:
        return text
    if "\n" in text and '"""' not in text and "\r" not in text and not text.endswith('"') and text.strip():
        return '"""' + text + '"""'
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return '"' + escaped.replace("\r", "\\r") + '"'


def _param_text(value: object) -> str:
    if isinstance(value, float):
        return repr(value)
    return quote(str(value))


def render_modelfile(modelfile: Modelfile) -> str:
    """Modelfile text for `modelfile`, one instruction per line, in a fixed order."""
    lines = [f"FROM {quote(modelfile.base)}"]
    lines += [f"FROM {quote(p)}" for p in modelfile.projectors]
    lines += [f"ADAPTER {quote(a)}" for a in modelfile.adapters]
    if modelfile.template is not None:
        lines.append(f"TEMPLATE {quote(modelfile.template)}")
    if modelfile.system is not None:
        lines.append(f"SYSTEM {quote(modelfile.system)}")
    for name, value in modelfile.parameters.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            lines.append(f"PARAMETER {name} {_param_text(item)}")
    lines += [f"MESSAGE {m.role} {quote(m.content)}" for m in modelfile.messages]
    lines += [f"LICENSE {quote(text)}" for text in modelfile.license]
    return "\n".join(lines) + "\n"


def modelfile_for_record(record: ModelRecord) -> str:
    """The Modelfile that re-creates `record` (FROM points at its weights in the store)."""
    has_license = record.manifest.layer(MEDIA_LICENSE) is not None
    modelfile = Modelfile(
        base=str(record.model_path),
        parameters={k: tuple(v) if isinstance(v, list) else v for k, v in record.parameters.items()},
        template=record.template or None,
        system=record.system or None,
        adapters=tuple(str(a) for a in record.adapters),
        projectors=(str(record.projector),) if record.projector else (),
        messages=tuple(record.messages),
        license=(record.license,) if has_license and record.license else (),
    )
    header = [
        '# Modelfile generated by "ember show"',
        "# To build a new Modelfile based on this, replace FROM with:",
        f"# FROM {record.name.display()}",
        "",
    ]
    return "\n".join(header) + "\n" + render_modelfile(modelfile)
