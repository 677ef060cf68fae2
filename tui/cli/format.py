"""How the command line prints sizes, ages, tables and timings — the shapes Ollama's CLI uses."""

from __future__ import annotations

import time
from collections.abc import Sequence

from ember.backend.types import ModelInfo, Timings


def human_size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 and unit == "GB" else f"{value:.0f} {unit}"
    return f"{size} B"


def human_age(timestamp: float, now: float | None = None) -> str:
    seconds = max(0.0, (now or time.time()) - timestamp)
    if seconds < 1:
        return "Less than a second ago"
    steps = ((60, "second"), (3600, "minute"), (86400, "hour"), (86400 * 7, "day"),
             (86400 * 30, "week"), (86400 * 365, "month"), (float("inf"), "year"))
    size: float = 1
    for limit, unit in steps:
        if seconds < limit:
            count = int(seconds // size)
            if count == 1:
                return f"About a{'n' if unit == 'hour' else ''} {unit} ago" if unit != "second" else "1 second ago"
            return f"{count} {unit}s ago"
        size = limit
    return "a long time ago"


def human_until(timestamp: float, now: float | None = None) -> str:
    if not timestamp:
        return "Forever"
    seconds = timestamp - (now or time.time())
    if seconds <= 1:
        return "Stopping..."
    if seconds < 60:
        return f"{int(seconds)} seconds from now"
    minutes = int(seconds // 60)
    return "About a minute from now" if minutes == 1 else f"{minutes} minutes from now"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["    ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [headers, *rows]]
    return "\n".join(lines)


def duration(ns: int) -> str:
    seconds = ns / 1e9
    if seconds >= 60:
        return f"{int(seconds // 60)}m{seconds % 60:.6g}s"
    if seconds >= 1:
        return f"{seconds:.9g}s"
    if ns >= 1e6:
        return f"{ns / 1e6:.6g}ms"
    return f"{ns / 1e3:.6g}µs"


def timing_block(t: Timings) -> str:
    lines = [
        ("total duration", duration(t.total_duration)),
        ("load duration", duration(t.load_duration)),
        ("prompt eval count", f"{t.prompt_eval_count} token(s)"
                              + (f", {t.prompt_eval_cached_count} from the cache" if t.prompt_eval_cached_count else "")),
        ("prompt eval duration", duration(t.prompt_eval_duration)),
        ("prompt eval rate", f"{t.prompt_eval_rate:.2f} tokens/s"),
        ("eval count", f"{t.eval_count} token(s)"),
        ("eval duration", duration(t.eval_duration)),
        ("eval rate", f"{t.eval_rate:.2f} tokens/s"),
    ]
    if t.draft_count:
        lines.append(("draft tokens", f"{t.draft_accepted} of {t.draft_count} accepted (prompt lookup)"))
    if getattr(t, "client_clock", False):  # a remote OpenAI-compatible server: durations from this machine's clock
        lines = [line for line in lines if line[0] not in ("load duration", "prompt eval duration", "prompt eval rate")
                 and (line[0] != "prompt eval count" or t.prompt_eval_count)]
        if getattr(t, "counted_here", False):
            lines = [(k, v + " (pieces streamed; the server sent no usage)" if k == "eval count" else v) for k, v in lines]
    if getattr(t, "time_to_first_token", 0):
        lines.insert(1, ("time to first token", duration(t.time_to_first_token)))  # type: ignore[attr-defined]
    return "\n".join(f"{label + ':':<22}{value}" for label, value in lines)


def parameter_value(value: object) -> str:
    """A parameter's value as a Modelfile writes it: strings quoted, lists one value after another."""
    if isinstance(value, (list, tuple)):
        return " ".join(parameter_value(v) for v in value)
    return f'"{value}"' if isinstance(value, str) else str(value)


def parameter_lines(parameters: dict[str, object]) -> list[str]:
    """One line per value, as `ollama show --parameters` prints them (a list gives a line each)."""
    return [f"{name:<20}{parameter_value(item)}"
            for name, value in parameters.items()
            for item in (value if isinstance(value, (list, tuple)) else [value])]


def model_description(info: ModelInfo) -> str:
    """What `ember show MODEL` prints: the model, its capabilities, parameters, system prompt and licence."""
    arch = str(info.model_info.get("general.architecture", info.details.family))
    sections = [("Model", [
        ("architecture", arch),
        ("parameters", info.details.parameter_size),
        ("context length", str(info.model_info.get(f"{arch}.context_length", ""))),
        ("embedding length", str(info.model_info.get(f"{arch}.embedding_length", ""))),
        ("quantization", info.details.quantization_level),
    ])]
    if info.projector_info:  # as Ollama's show prints a vision model's projector
        proj = info.projector_info
        sections.append(("Projector", [
            ("architecture", str(proj.get("general.architecture", ""))),
            ("projector type", str(proj.get("clip.projector_type", ""))),
            ("embedding length", str(proj.get("clip.vision.embedding_length", ""))),
            ("dimensions", str(proj.get("clip.vision.projection_dim", ""))),
        ]))
    if info.capabilities:
        sections.append(("Capabilities", [(c, "") for c in info.capabilities]))
    if info.parameters:
        sections.append(("Parameters", [(k, parameter_value(v)) for k, v in info.parameters.items()]))
    if info.system:
        sections.append(("System", [(line, "") for line in info.system.strip().splitlines()[:6]]))
    if info.license:
        sections.append(("License", [(line, "") for line in info.license.strip().splitlines()[:2]]))
    lines: list[str] = []
    for title, rows in sections:
        lines.append(f"  {title}")
        width = max(len(k) for k, _ in rows) + 4
        lines += [f"    {key:<{width}}{value}".rstrip() for key, value in rows]
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def answer_figures(t: Timings) -> str:
    """One quiet line about an answer: tokens in and out, time taken, decode speed."""
    parts = []
    if t.prompt_eval_count:
        parts.append(f"{t.prompt_eval_count} tokens in")
    parts.append(f"{t.eval_count} out")
    if t.total_duration:
        parts.append(f"{t.total_duration / 1e9:.1f} s")
    if t.eval_rate:
        parts.append(f"{t.eval_rate:.1f} tok/s")
    return " · ".join(parts)
