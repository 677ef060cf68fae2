"""Runner: one GGUF model loaded through llama.cpp's low-level API, generating one sequence.

The per-token path is one `llama_decode`, one C sampler call, one `llama_token_to_piece` and an
incremental UTF-8 decode: nothing re-detokenises, nothing samples in Python. The KV cache keeps the
previous request's tokens, so a request that shares a prefix with it only evaluates what is new.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import llama_cpp as lc

from backend.engine.sampler import SamplerChain
from backend.engine.textstream import TextStream
from backend.errors import EmberError, InvalidModelFile
from backend.parameters import Options
from backend.types import Chunk, Timings

_PIECE_BYTES = 256


@lc.llama_log_callback
def _quiet_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    if os.environ.get("EMBER_DEBUG_LLAMA"):
        os.write(2, text)


lc.llama_log_set(_quiet_log, ctypes.c_void_p())
lc.llama_backend_init()


def default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class Runner:
    """A loaded model and its context. Not thread-safe: the scheduler serialises access."""

    def __init__(self, model_path: Path, *, num_ctx: int = 4096, num_thread: int = 0,
                 num_batch: int = 512, num_gpu: int = -1, adapters: tuple[Path, ...] = ()) -> None:
        start = time.perf_counter_ns()
        self.path = Path(model_path)
        params = lc.llama_model_default_params()
        params.n_gpu_layers = 999 if num_gpu < 0 else num_gpu
        params.use_mmap = True
        self.model = lc.llama_model_load_from_file(str(self.path).encode(), params)
        if not self.model:
            raise InvalidModelFile(f"llama.cpp could not load {self.path}: not a model it supports, or damaged")
        self.vocab = lc.llama_model_get_vocab(self.model)
        self.n_vocab = lc.llama_vocab_n_tokens(self.vocab)
        self.ctx = None
        self.num_ctx = 0
        self.num_batch = num_batch
        self.threads = num_thread or default_threads()
        self._tokens: list[int] = []  # what the KV cache holds, in order
        self._piece = ctypes.create_string_buffer(_PIECE_BYTES)
        self._adapters = [self._load_adapter(path) for path in adapters]
        self._make_context(num_ctx)
        self.load_duration = time.perf_counter_ns() - start

    # setup ----------------------------------------------------------------------------------

    def _load_adapter(self, path: Path) -> object:
        adapter = lc.llama_adapter_lora_init(self.model, str(path).encode())
        if not adapter:
            raise InvalidModelFile(f"llama.cpp could not load the adapter {path}")
        return adapter

    def _make_context(self, num_ctx: int) -> None:
        if self.ctx is not None:
            lc.llama_free(self.ctx)
        params = lc.llama_context_default_params()
        params.n_ctx = num_ctx
        params.n_batch = min(self.num_batch, num_ctx)
        params.n_ubatch = min(self.num_batch, num_ctx)
        params.n_threads = self.threads
        params.n_threads_batch = self.threads
        params.n_seq_max = 1
        self.ctx = lc.llama_init_from_model(self.model, params)
        if not self.ctx:
            raise EmberError(f"could not create a context of {num_ctx} tokens for {self.path.name}: "
                             "lower num_ctx")
        for adapter in self._adapters:
            lc.llama_set_adapter_lora(self.ctx, adapter, 1.0)
        self.memory = lc.llama_get_memory(self.ctx)
        self.num_ctx = lc.llama_n_ctx(self.ctx)
        self._tokens = []

    def ensure(self, options: Options) -> None:
        """Recreate the context when a request asks for another size or thread count."""
        if options.num_ctx != self.num_ctx:
            self._make_context(options.num_ctx)
        threads = options.num_thread or default_threads()
        if threads != self.threads:
            self.threads = threads
            lc.llama_set_n_threads(self.ctx, threads, threads)

    def close(self) -> None:
        if self.ctx is not None:
            lc.llama_free(self.ctx)
            self.ctx = None
        if self.model is not None:
            lc.llama_model_free(self.model)
            self.model = None

    # text <-> tokens ------------------------------------------------------------------------

    @property
    def add_bos(self) -> bool:
        return bool(lc.llama_vocab_get_add_bos(self.vocab))

    def token_text(self, token: int) -> str:
        size = lc.llama_token_to_piece(self.vocab, token, self._piece, _PIECE_BYTES, 0, True)
        return self._piece.raw[: max(size, 0)].decode("utf-8", "replace")

    @property
    def bos_text(self) -> str:
        token = lc.llama_vocab_bos(self.vocab)
        return self.token_text(token) if token >= 0 else ""

    @property
    def eos_text(self) -> str:
        token = lc.llama_vocab_eos(self.vocab)
        return self.token_text(token) if token >= 0 else ""

    def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        size = len(data) + 8
        buf = (lc.llama_token * size)()
        count = lc.llama_tokenize(self.vocab, data, len(data), buf, size, add_special, parse_special)
        if count < 0:
            size = -count
            buf = (lc.llama_token * size)()
            count = lc.llama_tokenize(self.vocab, data, len(data), buf, size, add_special, parse_special)
        return list(buf[:count])

    def detokenize(self, tokens: list[int]) -> str:
        stream = TextStream()
        parts = [stream.feed(self._piece_bytes(t)) for t in tokens]
        return "".join(parts) + stream.flush()

    def _piece_bytes(self, token: int) -> bytes:
        size = lc.llama_token_to_piece(self.vocab, token, self._piece, _PIECE_BYTES, 0, False)
        return self._piece.raw[:size] if size > 0 else b""

    # generation -----------------------------------------------------------------------------

    def _decode(self, tokens: list[int]) -> None:
        for start in range(0, len(tokens), self.num_batch):
            part = tokens[start : start + self.num_batch]
            array = (lc.llama_token * len(part))(*part)
            if lc.llama_decode(self.ctx, lc.llama_batch_get_one(array, len(part))) != 0:
                self._forget()
                raise EmberError("llama.cpp failed to evaluate the prompt (context full?); "
                                 "raise num_ctx or shorten the conversation")
            self._tokens.extend(part)

    def _forget(self) -> None:
        lc.llama_memory_clear(self.memory, True)
        self._tokens = []

    def _reuse_prefix(self, prompt: list[int]) -> list[int]:
        """Keep the cached tokens the prompt starts with; return the tokens still to evaluate."""
        keep = 0
        limit = min(len(self._tokens), len(prompt) - 1)
        cached = self._tokens
        while keep < limit and cached[keep] == prompt[keep]:
            keep += 1
        if keep < len(cached):
            if not lc.llama_memory_seq_rm(self.memory, 0, keep, -1):
                self._forget()
                return prompt
            del cached[keep:]
        return prompt[keep:]

    def _fit(self, prompt: list[int], options: Options) -> list[int]:
        """Drop the oldest tokens after num_keep when a prompt would not leave room to answer."""
        room = self.num_ctx - min(max(options.num_predict, 0) or 256, self.num_ctx // 4)
        if len(prompt) <= room:
            return prompt
        keep = max(0, min(options.num_keep, room // 2))
        return prompt[:keep] + prompt[len(prompt) - (room - keep) :]

    def _shift(self, options: Options) -> bool:
        """Make room in a full context: keep num_keep tokens, discard half of the rest."""
        if not lc.llama_memory_can_shift(self.memory):
            return False
        n_past = len(self._tokens)
        keep = max(0, min(options.num_keep, n_past // 2))
        discard = (n_past - keep) // 2
        lc.llama_memory_seq_rm(self.memory, 0, keep, keep + discard)
        lc.llama_memory_seq_add(self.memory, 0, keep + discard, n_past, -discard)
        del self._tokens[keep : keep + discard]
        return True

    def generate(self, prompt: list[int], options: Options, *, cancel: threading.Event | None = None,
                 grammar: str | None = None) -> Iterator[Chunk]:
        """Evaluate `prompt` (reusing the cached prefix) and stream the answer as Chunks."""
        started = time.perf_counter_ns()
        self.ensure(options)
        if not prompt:
            raise EmberError("the prompt is empty after templating")
        prompt = self._fit(prompt, options)
        sampler = SamplerChain(self.vocab, self.n_vocab, options, grammar)
        try:
            todo = self._reuse_prefix(prompt)
            self._decode(todo)
            prompt_done = time.perf_counter_ns()
            yield from self._sample_loop(sampler, options, cancel, started, prompt_done, len(todo))
        finally:
            sampler.close()

    def _sample_loop(self, sampler: SamplerChain, options: Options, cancel: threading.Event | None,
                     started: int, prompt_done: int, prompt_count: int) -> Iterator[Chunk]:
        stream = TextStream(options.stop)
        limit = options.num_predict if options.num_predict >= 0 else 1 << 62
        if options.num_predict == -2:
            limit = self.num_ctx
        chain, ctx, vocab, piece = sampler.chain, self.ctx, self.vocab, self._piece
        sample, is_eog = lc.llama_sampler_sample, lc.llama_vocab_is_eog
        to_piece, decode, get_one = lc.llama_token_to_piece, lc.llama_decode, lc.llama_batch_get_one
        one = (lc.llama_token * 1)()
        tokens = self._tokens
        count, reason = 0, "length"
        while count < limit:
            token = sample(chain, ctx, -1)
            if is_eog(vocab, token):
                reason = "stop"
                break
            count += 1
            size = to_piece(vocab, token, piece, _PIECE_BYTES, 0, False)
            text = stream.feed(piece.raw[:size]) if size > 0 else ""
            if text:
                yield Chunk(text)
            if stream.stopped:
                reason = "stop"
                break
            if cancel is not None and cancel.is_set():
                reason = "cancel"
                break
            if count >= limit:
                break
            if len(tokens) >= self.num_ctx and not self._shift(options):
                break
            one[0] = token
            if decode(ctx, get_one(one, 1)) != 0:
                self._forget()
                raise EmberError("llama.cpp failed to decode a token; try a smaller num_ctx")
            tokens.append(token)
        rest = stream.flush()
        if rest:
            yield Chunk(rest)
        now = time.perf_counter_ns()
        timings = Timings(
            total_duration=now - started,
            prompt_eval_count=prompt_count,
            prompt_eval_duration=prompt_done - started,
            eval_count=count,
            eval_duration=now - prompt_done,
        )
        yield Chunk("", done=True, done_reason=reason, timings=timings, context=list(tokens))
