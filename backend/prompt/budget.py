"""Hard budgets for one rendering of an untrusted template: time, output, value sizes, loops, depth.

A template is a program from a stranger (a GGUF's Jinja template, a Modelfile TEMPLATE, or the
`template` field of a request). Both evaluators call into one RenderBudget while they run: every
loop step, call and output piece checks the deadline, and every operation that could build a huge
value in one step (a big power, a repeated or padded string) is checked *before* it runs, so no
single step can hold the interpreter for long or allocate more than the limits below.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from ember.backend.errors import TemplateError


@dataclass(frozen=True)
class RenderLimits:
    seconds: float = 2.0  # wall-clock time for one rendering
    output: int = 16 << 20  # characters the prompt may have
    value: int = 16 << 20  # characters (or items) in one string or list made while rendering
    int_bits: int = 1 << 14  # bits in one integer made while rendering (about 4900 digits)
    iterations: int = 2_000_000  # loop steps, all loops of one rendering together
    depth: int = 100  # nested blocks, calls and parentheses


LIMITS = RenderLimits()


class RenderLimitExceeded(TemplateError):
    """A template broke one of its rendering limits; the message names the limit."""


# A %-format directive or a str.format field whose width or precision is written as digits.
_PERCENT_WIDTHS = re.compile(r"%[-+ #0]*(\*|\d*)(?:\.(\*|\d*))?")
_BRACE_WIDTHS = re.compile(r"\{[^{}]*?:[^{}]*?(\d+)(?:\.(\d+))?[^{}]*\}")


@dataclass
class RenderBudget:
    """What is left of one rendering's limits; `who` opens every error ("the chat template")."""

    who: str
    limits: RenderLimits = LIMITS
    cancel: threading.Event | None = None
    deadline: float = 0.0
    iterations: int = 0
    output: int = 0
    depth: int = 0

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.limits.seconds
        self.iterations = self.limits.iterations
        self.output = self.limits.output

    def stop(self, what: str) -> RenderLimitExceeded:
        return RenderLimitExceeded(f"{self.who} was stopped: {what}")

    def tick(self) -> None:
        """Check the deadline and whether the client has gone."""
        if time.monotonic() > self.deadline:
            raise self.stop(f"it ran past its time limit of {self.limits.seconds:g} s")
        if self.cancel is not None and self.cancel.is_set():
            raise self.stop("the request was cancelled")

    def step(self, n: int = 1) -> None:
        """Count `n` loop iterations."""
        self.iterations -= n
        if self.iterations < 0:
            raise self.stop(f"its loops ran past their limit of {self.limits.iterations} iterations")
        self.tick()

    def emit(self, n: int) -> None:
        """Count `n` characters of output."""
        self.output -= n
        if self.output < 0:
            raise self.stop(f"it made a prompt of more than {_size(self.limits.output)} characters")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.limits.depth:
            raise self.stop(f"it nested deeper than {self.limits.depth} levels")
        self.tick()

    def leave(self) -> None:
        self.depth -= 1

    # sizes, checked before the step that would build them -----------------------------------

    def length(self, n: int) -> None:
        """Refuse a string or list of `n` characters or items."""
        if n > self.limits.value:
            raise self.stop(f"it made a value of more than {_size(self.limits.value)} characters")

    def number(self, value: object) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > self.limits.int_bits:
            raise self.stop(f"it made a number of more than {self.limits.int_bits} bits")

    def check(self, value: object) -> object:
        """Refuse a value that is already too big (a number, a string, a list); return it."""
        if isinstance(value, (str, list, tuple, dict)):
            self.length(len(value))
            if isinstance(value, (list, tuple)):
                self.length(sum(len(v) for v in value if isinstance(v, str)))
        else:
            self.number(value)
        return value

    def power(self, base: object, exponent: object) -> None:
        if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
            if base.bit_length() * exponent > self.limits.int_bits:
                raise self.stop(f"it made a number of more than {self.limits.int_bits} bits")

    def product(self, left: object, right: object) -> None:
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                self.length(len(seq) * max(n, 0))
        if isinstance(left, int) and isinstance(right, int):
            bits = left.bit_length() + right.bit_length()
            if bits > self.limits.int_bits:
                raise self.stop(f"it made a number of more than {self.limits.int_bits} bits")

    def widths(self, fmt: str, args: object = ()) -> None:
        """Refuse a %-format or str.format string that pads or rounds past the value limit."""
        numbers = [n for m in _PERCENT_WIDTHS.finditer(fmt) for n in m.groups() if n]
        numbers += [n for m in _BRACE_WIDTHS.finditer(fmt) for n in m.groups() if n]
        if "*" in numbers:
            values = args if isinstance(args, tuple) else (args,)
            numbers += [str(v) for v in values if isinstance(v, int) and not isinstance(v, bool)]
        for n in numbers:
            if n != "*" and (len(n) > 12 or int(n.lstrip("-") or 0) > self.limits.value):
                raise self.stop(f"it asked for a width of {n} characters (at most {_size(self.limits.value)})")


def _size(n: int) -> str:
    return f"{n >> 20} M" if n >= 1 << 20 and n % (1 << 20) == 0 else str(n)
