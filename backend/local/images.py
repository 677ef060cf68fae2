"""A request's images: base64 as Ollama sends them, checked and decoded to RGB for the projector.

Pillow reads the header first, so an image's size is refused before its pixels are decoded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.backend.engine.pixels import Image
from ember.backend.errors import InvalidRequest
from ember.backend.local.requestlimits import MAX_IMAGE_BYTES, check_fits, check_image, check_image_count
from ember.backend.local.turns import Turn
from ember.backend.types import Message

if TYPE_CHECKING:
    from ember.backend.engine.runner import Runner

FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")


def decode_base64(index: int, encoded: str) -> bytes:
    if len(encoded) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        check_image(index, len(encoded) * 3 // 4)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"image {index + 1} is not valid base64: send the file's bytes base64-encoded, "
                             "without a data: prefix") from None


def decode_image(index: int, data: bytes) -> Image:
    """An image file's pixels as RGB; anything that is not a PNG, JPEG, WebP, GIF or BMP is refused."""
    from PIL import Image as Pillow
    from PIL import UnidentifiedImageError

    check_image(index, len(data))
    try:
        with Pillow.open(io.BytesIO(data)) as picture:
            if picture.format not in FORMATS:
                raise InvalidRequest(f"image {index + 1} is {picture.format or 'an unknown format'}; send a "
                                     "PNG, JPEG, WebP, GIF or BMP")
            width, height = picture.size
            check_image(index, len(data), width, height)
            rgb = picture.convert("RGB").tobytes()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Pillow.DecompressionBombError):
        raise InvalidRequest(f"image {index + 1} is not an image file (PNG, JPEG, WebP, GIF or BMP)") from None
    return Image(width, height, rgb, hashlib.sha256(data).hexdigest())


def decode_images(encoded: Iterable[str], start: int = 0) -> list[Image]:
    return [decode_image(start + i, decode_base64(start + i, e)) for i, e in enumerate(encoded)]


def message_images(messages: list[Message]) -> list[Image]:
    """Every message's images in the order the prompt holds them."""
    check_image_count(sum(len(m.images) for m in messages))
    images: list[Image] = []
    for message in messages:
        images += decode_images(message.images, len(images))
    return images


def with_markers(messages: list[Message], marker: str) -> list[Message]:
    """Each message with images gets one marker per image before its text (as Ollama places them);
    a marker the sender wrote is taken out, so markers and images stay one to one."""
    out = []
    for m in messages:
        text = m.content.replace(marker, "")
        if m.images:
            text = "".join(marker + "\n" for _ in m.images) + text
        out.append(replace(m, content=text))
    return out


def media_tokens(turn: Turn, runner: Runner, prompt: str, images: list[Image], add_special: bool,
                 context: list[int] | None = None) -> list[int]:
    """Tokenize a prompt with images into `turn.media`; an image is never cut, so a prompt that does
    not fit is refused whatever `truncate` says."""
    turn.media = runner.tokenize_media(prompt, images, add_special=add_special).after(context or [])
    check_fits(turn.media.tokens, turn.options, runner.num_ctx)
    return turn.media.tokens


def projector_info(path: Path) -> dict[str, Any]:
    """`show`'s projector_info, as Ollama gives it: the projector GGUF's metadata, long arrays left out."""
    from ember.backend.store.ggufmeta import read_gguf_metadata

    kv = read_gguf_metadata(path)
    return {k: v for k, v in kv.items() if not (isinstance(v, list) and len(v) > 64)}
