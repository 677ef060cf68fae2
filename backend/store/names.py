"""Model names as Ollama writes them, `[host/][namespace/]model[:tag]`, and blob digests.

This module is the only door from a user's string to a path in the store: anything that could
escape it (`..`, absolute paths, separators, odd characters) is refused here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ember.backend.errors import InvalidName

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,79}$")
_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,79}(:[0-9]{1,5})?$")
_DIGEST = re.compile(r"^sha256[:\-]([0-9a-f]{64})$")


@dataclass(frozen=True)
class ModelName:
    host: str
    namespace: str
    model: str
    tag: str

    @property
    def parts(self) -> tuple[str, str, str, str]:
        """The path components of this name's manifest under `manifests/`."""
        return (self.host, self.namespace, self.model, self.tag)

    def display(self) -> str:
        """The short form Ollama prints: `model:tag`, with namespace and host only when not default."""
        prefix = ""
        if self.host != DEFAULT_HOST:
            prefix = f"{self.host}/{self.namespace}/"
        elif self.namespace != DEFAULT_NAMESPACE:
            prefix = f"{self.namespace}/"
        return f"{prefix}{self.model}:{self.tag}"

    def __str__(self) -> str:
        return self.display()


def parse_name(text: str) -> ModelName:
    """Parse and validate a model name; raise InvalidName with the reason when it is not one."""
    raw = text
    text = text.strip()
    if not text:
        raise InvalidName("a model name is required, e.g. smollm2:135m")
    if any(c.isspace() for c in text):
        raise InvalidName(f'invalid model name "{raw}": names cannot contain spaces')
    if text.startswith(("/", "\\", "~")) or "\\" in text or ".." in text:
        raise InvalidName(
            f'invalid model name "{raw}": a name cannot be a path — '
            "use [namespace/]model[:tag], or a Modelfile with FROM ./file.gguf"
        )
    for scheme in ("https://", "http://"):
        if text.startswith(scheme):
            text = text[len(scheme) :]
    path, tag = text, DEFAULT_TAG
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        model_part, tag = last.rsplit(":", 1)
        path = text[: len(text) - len(last)] + model_part
    segments = path.split("/")
    if len(segments) == 1:
        host, namespace, model = DEFAULT_HOST, DEFAULT_NAMESPACE, segments[0]
    elif len(segments) == 2:
        host, namespace, model = DEFAULT_HOST, segments[0], segments[1]
    elif len(segments) == 3:
        host, namespace, model = segments
    else:
        raise InvalidName(f'invalid model name "{raw}": expected [host/][namespace/]model[:tag]')
    if host == "huggingface.co":
        host = "hf.co"
    if not _HOST.match(host):
        raise InvalidName(f'invalid model name "{raw}": bad host "{host}"')
    for label, value in (("namespace", namespace), ("model", model), ("tag", tag)):
        if not value:
            raise InvalidName(f'invalid model name "{raw}": the {label} is empty')
        if not _PART.match(value):
            raise InvalidName(
                f'invalid model name "{raw}": the {label} "{value}" may only hold letters, digits, '
                "'_', '-' and '.', and must start with a letter, digit or '_'"
            )
    return ModelName(host, namespace, model, tag)


def parse_digest(text: str) -> str:
    """Return the hex of a `sha256:<hex>` or `sha256-<hex>` digest; anything else is refused."""
    match = _DIGEST.match(text.strip())
    if not match:
        raise InvalidName(f'invalid digest "{text}": expected sha256:<64 hex digits>')
    return match.group(1)
