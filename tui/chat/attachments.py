"""Images waiting to go with the next message: attached with `/image PATH` or picked out of its text."""

from __future__ import annotations

from pathlib import Path

from ember.backend.history import StoredImage
from ember.backend.service import Backend
from ember.tui.chat.imagepaths import Attached, extract_images, read_image
from ember.tui.chat.slash import CommandError


class Attachments:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.pending: list[Attached] = []
        self._sees: dict[str, bool] = {}
        self.warning = ""  # what the last `take` left as text for a model that cannot see

    async def sees(self, model: str) -> bool:
        """Whether `model` reads images (capability `vision`), asked once per model."""
        if model not in self._sees:
            self._sees[model] = "vision" in (await self.backend.show(model)).capabilities
        return self._sees[model]

    async def attach(self, model: str, path: str) -> Attached:
        """Read an image for the next message; a model that cannot see says so now, not after sending."""
        image = read_image(path)
        if not await self.sees(model):
            raise CommandError(f"{model} cannot see images (it has no vision projector); the image was not "
                               "attached — /load a vision model first")
        self.pending.append(image)
        return image

    async def take(self, model: str, text: str) -> tuple[str, list[Attached]]:
        """The message's text and its images: those attached, then the image paths in the text (for a
        model that sees; for one that does not, a path stays text, as in Ollama)."""
        found: list[Attached] = []
        self.warning = ""
        if await self.sees(model):
            text, found = extract_images(text)
        elif named := extract_images(text)[1]:
            self.warning = f"{model} cannot see images: {named[0].path.name} is sent as text, not as an image"
        images, self.pending = self.pending + found, []
        return text, images


def stored_images(images: list[Attached]) -> tuple[StoredImage, ...]:
    return tuple(StoredImage(str(image.path), image.digest) for image in images)


def reread(images: tuple[StoredImage, ...]) -> list[Attached]:
    """A stored message's images read again, those whose file is still there unchanged."""
    found = []
    for image in images:
        try:
            attached = read_image(Path(image.path))
        except Exception:  # moved or deleted since: the message goes on without it
            continue
        if attached.digest == image.digest:
            found.append(attached)
    return found
