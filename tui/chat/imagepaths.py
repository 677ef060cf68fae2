"""Image paths in a prompt, picked out as Ollama's CLI does, and read for a model that sees.

A path starts with `/`, `./`, `../` or `~/` (or a drive letter), ends in .png, .jpg, .jpeg or .webp,
may be quoted or hold escaped spaces (`./my\\ cat.png`), and counts only when the file exists; it
is taken out of the prompt and sent as an image.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ember.backend.errors import EmberError

EXTENSIONS = ("png", "jpg", "jpeg", "webp")
_EXT = r"\.(?:png|jpe?g|webp)"
_PATH = re.compile(rf"""'([^']+{_EXT})'|"([^"]+{_EXT})"|((?:[a-zA-Z]:)?(?:\.{{1,2}}/|/|~/|\\)(?:\\ |\S)+?{_EXT})"""
                   r"""(?=$|[\s,;:!?)\]'"])""", re.IGNORECASE)
MAX_FILE = 20 * 2**20  # the server refuses larger images anyway; say so before reading one


@dataclass(frozen=True)
class Attached:
    """An image file as it is sent: its path, and its bytes in base64."""

    path: Path
    data: str

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(base64.b64decode(self.data)).hexdigest()


def read_image(path: str | Path) -> Attached:
    """Read one image file; a missing, unreadable or oversized file is one line."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise EmberError(f"no image at {file}")
    if file.suffix.lower().lstrip(".") not in EXTENSIONS:
        raise EmberError(f"{file.name} is not a PNG, JPEG or WebP image")
    if file.stat().st_size > MAX_FILE:
        raise EmberError(f"{file.name} is larger than {MAX_FILE // 2**20} MiB")
    try:
        return Attached(file, base64.b64encode(file.read_bytes()).decode())
    except OSError as exc:
        raise EmberError(f"cannot read {file}: {exc.strerror or exc}") from None


def extract_images(prompt: str) -> tuple[str, list[Attached]]:
    """The prompt without the paths of existing image files, and those images in order."""
    found: list[Attached] = []
    kept: list[str] = []
    at = 0
    for match in _PATH.finditer(prompt):
        raw = next(group for group in match.groups() if group is not None)
        path = Path(raw.replace("\\ ", " ")).expanduser()
        if not path.is_file():
            continue
        found.append(read_image(path))
        kept.append(prompt[at:match.start()])
        at = match.end()
    kept.append(prompt[at:])
    return re.sub(r"[ \t]{2,}", " ", "".join(kept)).strip(), found


def with_image_lines(text: str, images: list[Attached]) -> str:
    """A message as a chat shows it: a line for each image it carries, then its text."""
    return "".join(f"[image: {image.path}]\n" for image in images) + text
