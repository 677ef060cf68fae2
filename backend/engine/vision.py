"""Images for a model with a vision projector, through llama.cpp's multimodal library (libmtmd).

A prompt with images is tokenized by mtmd into text chunks and image chunks (the projector's own
image tokens and markers). `MediaPrompt.tokens` holds each image as a run of placeholder ids, one
per position, all the same negative number derived from the image's digest: the batch loop's prefix
reuse then keeps a cached image only when it is the same image at the same place, and never half of
one. When a slot reaches an image the batch thread encodes it with the projector and decodes the
embeddings into that slot's sequence (`next_part`), then feeds the text after it as usual. A request
without images never comes here.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp as lc
import llama_cpp.mtmd_cpp as mtmd
from ember.backend.engine.pixels import Image, placeholder
from ember.backend.errors import EmberError, InvalidModelFile, InvalidRequest

_TEXT, _IMAGE = 0, 1  # mtmd_input_chunk_type


@dataclass
class ImageSpan:
    start: int  # where the image's positions begin in the prompt
    count: int
    chunk: object  # its mtmd_input_chunk, owned by the MediaPrompt's chunk list


@dataclass(eq=False)
class MediaPrompt:
    """A tokenized prompt with images: the tokens (images as placeholder runs) and the image chunks."""

    projector: Projector
    tokens: list[int]
    spans: list[ImageSpan]
    chunks: object = field(repr=False)

    @property
    def image_tokens(self) -> int:
        return sum(span.count for span in self.spans)

    def after(self, prefix: list[int]) -> MediaPrompt:
        """The same prompt following `prefix` (a generate request's `context`)."""
        if prefix:
            self.tokens = list(prefix) + self.tokens
            for span in self.spans:
                span.start += len(prefix)
        return self

    def __del__(self) -> None:
        if self.chunks is not None:
            mtmd.mtmd_input_chunks_free(self.chunks)
            self.chunks = None


class Projector:
    """A loaded mmproj GGUF for one text model."""

    def __init__(self, path: Path, model: object, *, threads: int, use_gpu: bool) -> None:
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = use_gpu
        params.n_threads = threads
        params.print_timings = False
        self.path = Path(path)
        self.ctx = mtmd.mtmd_init_from_file(str(self.path).encode(), model, params)
        if not self.ctx:
            raise InvalidModelFile(f"llama.cpp could not load the vision projector {self.path}: not a projector "
                                   "for this model, or damaged")
        if not mtmd.mtmd_support_vision(self.ctx):
            self.close()
            raise InvalidModelFile(f"{self.path} is a projector without a vision encoder")
        self.marker = (mtmd.mtmd_get_marker(self.ctx) or mtmd.mtmd_default_marker()).decode()

    def close(self) -> None:
        if self.ctx:
            mtmd.mtmd_free(self.ctx)
            self.ctx = None

    def tokenize(self, text: str, images: list[Image], *, add_special: bool) -> MediaPrompt:
        """Split `text` at its markers (one per image, in order) into text tokens and image chunks."""
        if text.count(self.marker) != len(images):
            raise InvalidRequest(f"the prompt has {text.count(self.marker)} image markers for {len(images)} images")
        bitmaps = (mtmd.mtmd_bitmap_p_ctypes * max(1, len(images)))()
        try:
            for i, image in enumerate(images):
                pixels = (ctypes.c_uint8 * len(image.rgb)).from_buffer_copy(image.rgb)
                bitmaps[i] = mtmd.mtmd_bitmap_init(image.width, image.height, pixels)
                if not bitmaps[i]:
                    raise InvalidRequest(f"image {i + 1} could not be read ({image.width}×{image.height})")
                mtmd.mtmd_bitmap_set_id(bitmaps[i], image.digest.encode())
            encoded = text.encode()
            entry = mtmd.mtmd_input_text()
            entry.text, entry.text_len = encoded, len(encoded)
            entry.add_special, entry.parse_special = add_special, True
            chunks = mtmd.mtmd_input_chunks_init()
            status = mtmd.mtmd_tokenize(self.ctx, chunks, ctypes.byref(entry), bitmaps, len(images))
        finally:
            for bitmap in bitmaps[: len(images)]:
                if bitmap:
                    mtmd.mtmd_bitmap_free(bitmap)
        prompt = MediaPrompt(self, [], [], chunks)
        if status != 0:
            raise InvalidRequest("an image could not be prepared for the model's projector"
                                 if status == 2 else "the prompt and its images could not be tokenized")
        self._collect(prompt, images)
        return prompt

    def _collect(self, prompt: MediaPrompt, images: list[Image]) -> None:
        image_index = 0
        for i in range(mtmd.mtmd_input_chunks_size(prompt.chunks)):
            chunk = mtmd.mtmd_input_chunks_get(prompt.chunks, i)
            kind = mtmd.mtmd_input_chunk_get_type(chunk)
            if kind == _TEXT:
                n = ctypes.c_size_t(0)
                ids = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
                prompt.tokens.extend(ids[: n.value])
            elif kind == _IMAGE:
                count = mtmd.mtmd_input_chunk_get_n_pos(chunk)
                # a projector may cut one image into several chunks (tiles): they share its digest
                chunk_id = (mtmd.mtmd_input_chunk_get_id(chunk) or b"").decode()
                digest = next((im.digest for im in images if im.digest == chunk_id), None)
                if digest is None:
                    digest = images[min(image_index, len(images) - 1)].digest
                image_index += 1
                prompt.spans.append(ImageSpan(len(prompt.tokens), count, chunk))
                prompt.tokens.extend([placeholder(digest)] * count)
            else:
                raise InvalidRequest("ember reads images only, not audio")
        if not prompt.tokens or prompt.tokens[-1] < 0:
            raise InvalidRequest("a prompt must not end with an image: add text after it")

    def evaluate(self, lctx: object, span: ImageSpan, n_past: int, seq_id: int, n_batch: int) -> None:
        """Encode one image chunk and decode its embeddings at `n_past` in sequence `seq_id`."""
        new_past = lc.llama_pos(0)
        status = mtmd.mtmd_helper_eval_chunk_single(self.ctx, lctx, span.chunk, n_past, seq_id, n_batch, False,
                                                    ctypes.byref(new_past))
        if status != 0:
            raise EmberError("llama.cpp could not evaluate an image (context full?); raise num_ctx or send fewer "
                             "images")
