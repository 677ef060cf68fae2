"""Runner: one GGUF model loaded through llama.cpp's low-level API, answering several requests at once.

Generation runs in the model's batch loop (backend.engine.batch): every request gets a sequence of
its own in one llama.cpp context, and all answering sequences are decoded together. The per-token
path is one batched `llama_decode`, one C sampler call per sequence, one `llama_token_to_piece` and
an incremental UTF-8 decode. Each sequence keeps its KV cache between requests, so a request that
shares a prefix with an earlier one only evaluates what is new.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import llama_cpp as lc
from ember.backend.engine.batch import BatchLoop
from ember.backend.engine.cpushare import default_threads
from ember.backend.engine.promptscores import PromptScoring
from ember.backend.engine.replies import PIECE_BYTES
from ember.backend.engine.sampler import SamplerChain
from ember.backend.engine.slots import Outbox, Request
from ember.backend.engine.textstream import TextStream
from ember.backend.engine.tokens import tokenize
from ember.backend.errors import EmberError, InvalidModelFile
from ember.backend.parameters import Options
from ember.backend.types import Chunk

if TYPE_CHECKING:
    from ember.backend.engine.pixels import Image
    from ember.backend.engine.vision import MediaPrompt, Projector

DEFAULT_PARALLEL = 4


@lc.llama_log_callback
def _quiet_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    if os.environ.get("EMBER_DEBUG_LLAMA"):
        os.write(2, text)


lc.llama_log_set(_quiet_log, ctypes.c_void_p())
lc.llama_backend_init()


def flash_attention_type(setting: str) -> int:
    """llama.cpp's flash attention for a context: `auto` leaves it to llama.cpp (on wherever the device
    supports it, the CPU included).

    Off, a CPU decodes faster deep in a conversation (one token's attention then runs as a matrix product
    over every thread), but the result of each row then depends on how many rows share the batch: prompt
    lookup's drafts and batched answers no longer give exactly the greedy answer a request gets alone.
    """
    return {"on": lc.LLAMA_FLASH_ATTN_TYPE_ENABLED, "off": lc.LLAMA_FLASH_ATTN_TYPE_DISABLED}.get(
        setting, lc.LLAMA_FLASH_ATTN_TYPE_AUTO)


class Runner:
    """A loaded model and its batch loop. Thread-safe: any number of threads may call generate()."""

    concurrent = True  # the scheduler lets requests share it instead of queueing them

    def __init__(self, model_path: Path, *, num_ctx: int = 4096, num_thread: int = 0,
                 num_batch: int = 512, num_gpu: int = -1, adapters: tuple[Path, ...] = (),
                 num_parallel: int = DEFAULT_PARALLEL, main_gpu: int = 0, use_mmap: bool = True,
                 use_mlock: bool = False, projector: Path | None = None, flash_attention: str = "auto",
                 kv_cache_type: str = "f16") -> None:
        start = time.perf_counter_ns()
        self.path = Path(model_path)
        params = lc.llama_model_default_params()
        params.n_gpu_layers = 999 if num_gpu < 0 else num_gpu
        params.main_gpu = main_gpu
        params.use_mmap = use_mmap
        params.use_mlock = use_mlock
        self.model = lc.llama_model_load_from_file(str(self.path).encode(), params)
        if not self.model:
            raise InvalidModelFile(f"llama.cpp could not load {self.path}: not a model it supports, or damaged")
        self.vocab = lc.llama_model_get_vocab(self.model)
        self.n_vocab = lc.llama_vocab_n_tokens(self.vocab)
        self._piece = ctypes.create_string_buffer(PIECE_BYTES)
        self._adapters = [self._load_adapter(path) for path in adapters]
        self.loop = BatchLoop(self.model, self.vocab, num_ctx=num_ctx, parallel=num_parallel,
                              threads=num_thread or default_threads(), adaptive=not num_thread, num_batch=num_batch,
                              adapters=self._adapters, flash_attention=flash_attention_type(flash_attention),
                              cache_type=kv_cache_type)
        self.projector: Projector | None = None
        if projector is not None:
            self.projector = self._load_projector(projector, num_thread or default_threads(), num_gpu != 0)
        self.load_duration = time.perf_counter_ns() - start

    def _load_adapter(self, path: Path) -> lc.llama_adapter_lora_p:
        adapter = lc.llama_adapter_lora_init(self.model, str(path).encode())
        if not adapter:
            raise InvalidModelFile(f"llama.cpp could not load the adapter {path}")
        return adapter

    def _load_projector(self, path: Path, threads: int, use_gpu: bool) -> Projector:
        from ember.backend.engine.vision import Projector  # libmtmd: only for a model that reads images

        try:
            return Projector(path, self.model, threads=threads, use_gpu=use_gpu)
        except BaseException:
            self.close()
            raise

    @property
    def num_ctx(self) -> int:
        """Tokens each sequence may hold."""
        return self.loop.num_ctx

    @property
    def num_parallel(self) -> int:
        return self.loop.parallel

    def forget(self) -> None:
        """Drop every idle sequence's cached prefix."""
        self.loop.forget()

    def close(self) -> None:
        self.loop.close()
        projector = getattr(self, "projector", None)
        if projector is not None:
            projector.close()
            self.projector = None
        if self.model is not None:
            lc.llama_model_free(self.model)
            self.model = None

    # text <-> tokens ------------------------------------------------------------------------

    @property
    def add_bos(self) -> bool:
        return bool(lc.llama_vocab_get_add_bos(self.vocab))

    def token_text(self, token: int) -> str:
        piece = ctypes.create_string_buffer(PIECE_BYTES)
        size = lc.llama_token_to_piece(self.vocab, token, piece, PIECE_BYTES, 0, True)
        return piece.raw[: max(size, 0)].decode("utf-8", "replace")

    @property
    def bos_text(self) -> str:
        token = lc.llama_vocab_bos(self.vocab)
        return self.token_text(token) if token >= 0 else ""

    @property
    def eos_text(self) -> str:
        token = lc.llama_vocab_eos(self.vocab)
        return self.token_text(token) if token >= 0 else ""

    def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = True) -> list[int]:
        return tokenize(self.vocab, text, add_special=add_special, parse_special=parse_special)

    def tokenize_media(self, text: str, images: list[Image], *, add_special: bool = True) -> MediaPrompt:
        """Tokenize a prompt whose images stand at the projector's markers (`media_marker`)."""
        if self.projector is None:
            raise EmberError(f"{self.path.name} was loaded without a vision projector")
        return self.projector.tokenize(text, images, add_special=add_special)

    @property
    def media_marker(self) -> str:
        return self.projector.marker if self.projector is not None else ""

    def detokenize(self, tokens: list[int]) -> str:
        stream = TextStream()
        parts = [stream.feed(self.piece_bytes(t)) for t in tokens]
        return "".join(parts) + stream.flush()

    def piece_bytes(self, token: int) -> bytes:
        piece = ctypes.create_string_buffer(PIECE_BYTES)
        size = lc.llama_token_to_piece(self.vocab, token, piece, PIECE_BYTES, 0, False)
        return piece.raw[:size] if size > 0 else b""

    # generation -----------------------------------------------------------------------------

    def start(self, prompt: list[int], options: Options, out: Outbox, *, cancel: threading.Event | None = None,
              grammar: str | None = None, top_logprobs: int = -1, special: bool = False,
              media: MediaPrompt | None = None, score_prompt: bool = False) -> Request:
        """Queue `prompt` (reusing a cached prefix); its chunks are put into `out` from the batch thread,
        the last one done (or an error). Setting `cancel` or the request's `abandoned` frees its slot.

        With `top_logprobs` 0 or more, every chunk carries its tokens' log probabilities (and that many
        alternatives each); `special` writes control tokens into the text. With `media` (from
        `tokenize_media`) the prompt is its tokens, images evaluated where they stand. With `score_prompt`
        a chunk before the answer's first carries the prompt's own log probabilities (promptscores), with
        max(top_logprobs, 0) alternatives each.
        """
        if media is not None:
            prompt = media.tokens
        if not prompt:
            raise EmberError("the prompt is empty after templating")
        if score_prompt and media is not None:
            raise EmberError("a prompt with images cannot be scored")
        request = Request(list(prompt), options, SamplerChain(self.vocab, self.n_vocab, options, grammar),
                          cancel, out, top_logprobs=top_logprobs, special=special, media=media,
                          scoring=PromptScoring(max(top_logprobs, 0)) if score_prompt else None)
        try:
            self.loop.submit(request)
        except BaseException:
            request.sampler.close()
            raise
        return request

    def generate(self, prompt: list[int], options: Options, *, cancel: threading.Event | None = None,
                 grammar: str | None = None, top_logprobs: int = -1, special: bool = False,
                 score_prompt: bool = False) -> Iterator[Chunk]:
        """Evaluate `prompt` and stream the answer as Chunks to this thread.

        Stopping the iteration early (closing the generator) cancels the request and frees its slot.
        """
        answer: queue.SimpleQueue[Chunk | BaseException] = queue.SimpleQueue()
        request = self.start(prompt, options, answer, cancel=cancel, grammar=grammar, top_logprobs=top_logprobs,
                             special=special, score_prompt=score_prompt)
        get = answer.get
        try:
            while True:
                item = get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.done:
                    return
        finally:
            request.abandoned = True
