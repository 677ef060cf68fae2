"""The batch loop: every running request of one model decoded together, one llama_decode per step.

One thread owns the llama.cpp context. Each step it admits waiting requests into free slots
(continuous batching: a request joins between two steps), builds one batch holding the next token
of every answering sequence plus a share of the prompts still being read, decodes it, and samples
each sequence with its own C sampler chain at that sequence's row of logits. A prompt never takes
the whole batch, so an answer in progress gets a token every step however long a new prompt is.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections import deque
from typing import Any, cast

import llama_cpp as lc
from ember.backend.engine.cpushare import ThreadShare
from ember.backend.engine.images import next_part, reuse_media_prefix
from ember.backend.engine.promptcache import PromptCache
from ember.backend.engine.promptscores import rows_for
from ember.backend.engine.replies import Replies
from ember.backend.engine.rowcost import RowCost
from ember.backend.engine.sharing import copy_prefix, copy_scored_prefix, start_being_evaluated
from ember.backend.engine.slots import (
    Request,
    Slot,
    common_prefix,
    fit,
    forget,
    goes_on,
    pick_slot,
    reuse_prefix,
    reuse_scored_prefix,
    shift,
)
from ember.backend.errors import EmberError

GATHER_GAP = 0.002  # seconds: requests arriving closer than this after an idle spell start together
GATHER_MOST = 0.01  # seconds the first of them waits at most
GGML_CACHE_TYPES = {"f16": lc.GGML_TYPE_F16, "q8_0": lc.GGML_TYPE_Q8_0, "q4_0": lc.GGML_TYPE_Q4_0}
NO_CONTEXT = lc.llama_context_p(0)


class BatchLoop:
    """Owns a context of `parallel` sequences of `num_ctx` tokens each, and the thread that runs it."""

    def __init__(self, model: lc.llama_model_p, vocab: lc.llama_vocab_p, *, num_ctx: int, parallel: int,
                 threads: int, num_batch: int, adapters: list[lc.llama_adapter_lora_p],
                 flash_attention: int = lc.LLAMA_FLASH_ATTN_TYPE_AUTO, adaptive: bool = False,
                 cache_type: str = "f16") -> None:
        self.model, self.vocab = model, vocab
        self.n_vocab = lc.llama_vocab_n_tokens(vocab)
        self.parallel = max(1, parallel)
        self.threads = threads  # what the context decodes with now
        self.given = threads  # what it was loaded with: back to it after a request that named its own
        # with no count asked for, fewer threads while other processes keep the cores busy (cpushare)
        self.share = ThreadShare(threads) if adaptive else None
        self._pinned = 0  # the threads the latest request asked for (0: none, the share decides)
        self.num_batch = max(num_batch, self.parallel)
        self._adapters = adapters
        self.flash_attention = flash_attention  # an llama_flash_attn_type
        self.cache_type = cache_type  # what keys and values are kept in (backend.cachetypes)
        self.ctx = NO_CONTEXT
        self.num_ctx = 0
        self.cache = PromptCache()  # the prompts slots gave up, to be put back when a request continues one
        self._make_context(num_ctx)
        self._batch = lc.llama_batch_init(self.num_batch, 0, 1)
        self.replies = Replies(vocab)
        self._waiting: deque[Request] = deque()
        self._wake = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()  # held by the loop while it touches the context
        self.busiest = 0  # the most sequences one batch has held
        self.row_cost = RowCost()  # what a draft row costs here, measured on the answers' steps

    # context --------------------------------------------------------------------------------

    def _make_context(self, num_ctx: int) -> None:
        previous = self.num_ctx if self.ctx else 0
        if self.ctx:
            lc.llama_free(self.ctx)
            self.ctx = NO_CONTEXT
        ctx = self._new_context(num_ctx)
        if not ctx:
            # Never leave the loop without a context: go back to the size that worked.
            if previous and (restored := self._new_context(previous)):
                self._use_context(restored)
            raise EmberError(f"could not create a context of {num_ctx} tokens × {self.parallel} sequences"
                             f"{'' if self.cache_type == 'f16' else f' in {self.cache_type}'}: lower num_ctx or "
                             "EMBER_NUM_PARALLEL" + ("" if self.cache_type == "f16" else
                                                     ", or set EMBER_KV_CACHE_TYPE to f16 (this device may "
                                                     "have no flash attention for a quantized cache)"))
        self._use_context(ctx)

    def _new_context(self, num_ctx: int) -> lc.llama_context_p | None:
        params = lc.llama_context_default_params()
        params.n_ctx = num_ctx * self.parallel  # each sequence gets num_ctx cells of its own
        params.n_batch = params.n_ubatch = self.num_batch
        params.n_threads = params.n_threads_batch = self.threads
        params.n_seq_max = self.parallel
        params.kv_unified = False
        params.flash_attn_type = self.flash_attention
        params.type_k = params.type_v = GGML_CACHE_TYPES[self.cache_type]
        return lc.llama_init_from_model(self.model, params)

    def _use_context(self, ctx: lc.llama_context_p) -> None:
        if self._adapters:  # all at once: each call replaces the context's whole set
            count = len(self._adapters)
            adapters = (lc.llama_adapter_lora_p_ctypes * count)(*cast(list[Any], self._adapters))
            lc.llama_set_adapters_lora(ctx, adapters, count, (ctypes.c_float * count)(*[1.0] * count))
        self.ctx = ctx
        self.cache.clear()
        self.memory = lc.llama_get_memory(ctx)
        self.num_ctx = lc.llama_n_ctx_seq(ctx)
        self.slots = [Slot(i) for i in range(self.parallel)]

    def close(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        for request in self._waiting:
            request.sampler.close()
        self._waiting.clear()
        if self._batch is not None:
            lc.llama_batch_free(self._batch)
            self._batch = None
        if self.ctx:
            lc.llama_free(self.ctx)
            self.ctx = NO_CONTEXT

    def forget(self) -> None:
        """Empty every sequence's cache (the next requests evaluate their whole prompt)."""
        with self._busy:
            self.cache.clear()
            if all(slot.request is None for slot in self.slots):
                # the whole cache, its cell positions too: the same prompt then lands where it did the
                # first time, so greedy answers repeat exactly (the order of float sums follows the cells)
                lc.llama_memory_clear(self.memory, True)
            for slot in self.slots:
                if slot.request is None:
                    forget(self.memory, slot)

    # requests -------------------------------------------------------------------------------

    def submit(self, request: Request) -> None:
        with self._wake:
            if self._closing:
                raise EmberError("the model was unloaded while the request was waiting; send it again")
            self._waiting.append(request)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ember-batch", daemon=True)
                self._thread.start()
            self._wake.notify()

    def active(self) -> int:
        return sum(slot.request is not None for slot in self.slots)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closing and not self._waiting and not self.active():
                    if self.share is not None:
                        self.share.idle()
                    self._wake.wait()
                if self._closing:
                    for slot in self.slots:
                        if slot.request is not None:
                            self._finish(slot, "cancel")
                    return
                if not self.active():
                    self._gather()
                with self._busy:
                    self._guarded(self._admit)
            with self._busy:
                self._guarded(self._step)

    def _gather(self) -> None:
        """The loop was idle: requests sent together reach it a millisecond or two apart (a server reads
        them one by one), so it waits while more keep coming, GATHER_GAP at a time and GATHER_MOST in all,
        and they start in one step instead of the first alone."""
        deadline = time.monotonic() + GATHER_MOST
        seen = len(self._waiting)
        while not self._closing and (left := deadline - time.monotonic()) > 0:
            self._wake.wait(min(GATHER_GAP, left))
            if len(self._waiting) == seen:
                return
            seen = len(self._waiting)

    def _guarded(self, work) -> None:  # noqa: ANN001
        """Run one phase; if it breaks, every request it touched gets the error instead of a hang."""
        try:
            work()
        except Exception as exc:  # a bug must not leave clients waiting forever
            error = exc if isinstance(exc, EmberError) else EmberError(f"generation failed: {exc}")
            for slot in self.slots:
                forget(self.memory, slot)
                self._fail(slot, error)

    def _admit(self) -> None:
        deferred: list[Request] = []  # prompts whose start another slot is evaluating: they copy it next
        try:
            self._admit_waiting(deferred)
        finally:
            self._waiting.extendleft(reversed(deferred))

    def _admit_waiting(self, deferred: list[Request]) -> None:
        while self._waiting:
            request = self._waiting[0]
            if request.stopping:
                self._waiting.popleft()
                self.replies.done(request, "cancel", [])
                continue
            free = [slot for slot in self.slots if slot.request is None]
            if not free:
                return
            if request.options.num_ctx != self.num_ctx:
                if len(free) < len(self.slots):
                    return  # the context is resized once the running answers end
                try:
                    self._make_context(request.options.num_ctx)
                except EmberError as exc:
                    self._waiting.popleft()
                    request.sampler.close()
                    request.out.put(exc)
                    continue
                free = list(self.slots)
            if start_being_evaluated(self.slots, request):
                deferred.append(self._waiting.popleft())
                continue
            self._pinned = request.options.num_thread
            self._use_threads(self._pinned or (self.share.threads if self.share else self.given))
            self._waiting.popleft()
            slot = pick_slot(free, request.prompt)
            slot.request, slot.pending, slot.logits_at = request, -1, -1
            if request.scoring is not None:  # every row's logits are needed: from the start, or past a start
                request.scoring.prompt = prompt = fit(request.prompt, request.options, self.num_ctx)
                request.prompt_count = len(prompt)
                self._swap_in(slot, prompt, restore=False)
                copy_scored_prefix(self.memory, self.slots, slot, prompt, request.scoring.top)
                request.todo = reuse_scored_prefix(self.memory, slot, request.scoring)
            elif request.media is None:
                prompt = fit(request.prompt, request.options, self.num_ctx)
                request.prompt_count = len(prompt)
                self._swap_in(slot, prompt)
                copy_prefix(self.memory, self.slots, slot, prompt)
                request.todo = reuse_prefix(self.memory, slot, prompt)
            else:  # an image is never cut: check_fits refused a prompt too long for the context
                self._swap_in(slot, request.media.tokens, restore=False)
                request.prompt_count = len(request.media.tokens)
                request.todo = reuse_media_prefix(self.memory, slot, request)
            request.prompt_cached = request.prompt_count - len(request.todo)
            request.stops.num_ctx = self.num_ctx  # llama.cpp may round the context up

    def _swap_in(self, slot: Slot, prompt: list[int], restore: bool = True) -> None:
        """Save what the slot holds when the prompt is another conversation; put back a saved prompt
        this one continues."""
        shared = common_prefix(slot.tokens, prompt)
        saved = self.cache.take(prompt, better_than=shared) if restore else None
        if saved is None and goes_on(slot.tokens, prompt) >= 0:
            return  # the slot holds this conversation, or this prompt asked again
        self.cache.save(self.ctx, slot)
        if saved is not None:
            self.cache.restore(self.ctx, self.memory, slot, saved)

    def _use_threads(self, threads: int) -> None:
        if threads != self.threads:
            self.threads = threads
            lc.llama_set_n_threads(self.ctx, threads, threads)

    # one step -------------------------------------------------------------------------------

    def _step(self) -> None:
        batch, n = self._batch, 0
        token, pos, seq_id, logits = batch.token, batch.pos, batch.seq_id, batch.logits
        n_seq_id = batch.n_seq_id
        fed: list[tuple[Slot, list[int]]] = []
        answering = sum(slot.pending >= 0 for slot in self.slots)
        room = self.num_batch - answering  # rows left for drafts
        for slot in self.slots:
            slot.logits_at, slot.drafts = -1, []
            if slot.request is None:
                continue
            if slot.request.stopping:
                self._finish(slot, "cancel")
                continue
            if slot.pending < 0:
                continue
            if len(slot.tokens) >= self.num_ctx and (
                    slot.request.stops.fill_once or not shift(self.memory, slot, slot.request.options.num_keep)):
                self._finish(slot, "length")
                continue
            token[n], pos[n], n_seq_id[n], seq_id[n][0], logits[n] = (
                slot.pending, len(slot.tokens), 1, slot.seq_id, 1)
            slot.logits_at = n
            fed.append((slot, [slot.pending]))
            n += 1
            slot.drafts = self._draft(slot, room, answering)
            room -= len(slot.drafts)
            for i, t in enumerate(slot.drafts, len(slot.tokens) + 1):
                token[n], pos[n], n_seq_id[n], seq_id[n][0], logits[n] = t, i, 1, slot.seq_id, 1
                n += 1
        answer_rows = n
        scored: list[tuple[Slot, int, int]] = []  # (slot, its first row, how many) of prompts being scored
        for slot in self.slots:
            request = slot.request
            if request is None or not request.todo or n >= self.num_batch:
                continue
            if request.scoring is not None:
                part = request.todo[: min(self.num_batch - n, rows_for(self.n_vocab))]
                scored.append((slot, n, len(part)))
            elif request.media is None:
                part = request.todo[: self.num_batch - n]
            else:
                part = next_part(self.ctx, slot, self.num_batch - n, self.num_batch)
            del request.todo[: len(part)]
            base, every = len(slot.tokens), int(request.scoring is not None)
            for i, t in enumerate(part):
                token[n], pos[n], n_seq_id[n], seq_id[n][0], logits[n] = t, base + i, 1, slot.seq_id, every
                n += 1
            if not request.todo:
                logits[n - 1] = 1
                slot.logits_at = n - 1
            fed.append((slot, part))
        if n == 0:
            return
        self.busiest = max(self.busiest, len(fed))
        batch.n_tokens = n
        began = time.perf_counter()
        if lc.llama_decode(self.ctx, batch) != 0:
            for slot, _ in fed:
                forget(self.memory, slot)
                self._fail(slot, EmberError("llama.cpp failed to evaluate the batch (context full?); "
                                            "raise num_ctx or shorten the conversation"))
            return
        if n == answer_rows:  # the step's own time, also where the device computes after llama_decode returns
            lc.llama_synchronize(self.ctx)
            took = time.perf_counter() - began
            self.row_cost.observe(n, took)
            if self.share is not None and not self._pinned:
                self._use_threads(self.share.observe(took, n))
        for slot, part in fed:
            slot.tokens.extend(part)
        for slot, first, count in scored:
            self._score(slot, first, count)
        for slot in self.slots:
            if slot.logits_at >= 0 and slot.request is not None:
                if slot.drafts:
                    self._verify(slot)
                else:
                    self._sample(slot)

    # prompt lookup (backend.engine.lookup) ----------------------------------------------------

    def _draft(self, slot: Slot, room: int, sharing: int) -> list[int]:
        """Tokens to feed after the sequence's pending one: never past its limit, its context or the batch."""
        request = slot.request
        assert request is not None
        if request.lookup is None:
            return []
        room = min(room, request.limit - request.count - 1, self.num_ctx - len(slot.tokens) - 1)
        # a lone answer drafts by the prior costs, so the same request always makes the same steps (its
        # answer repeats exactly, seed and all); beside others the batch depends on timing anyway
        drafts = request.lookup.draft(room, sharing, self.row_cost if sharing > 1 else None)
        request.lookup.drafted += len(drafts)
        return drafts

    def _verify(self, slot: Slot) -> None:
        """Sample the rows of a sequence's drafts in order while each draft is the token sampled before it;
        the cache drops the drafts after the first that was not."""
        request, drafts = slot.request, slot.drafts
        assert request is not None and request.lookup is not None
        slot.drafts = []
        accepted = 0
        self._sample(slot)
        for draft in drafts:
            if slot.pending != draft:  # another token, or the answer ended
                break
            accepted += 1
            request.lookup.accepted += 1
            slot.tokens.append(draft)
            slot.logits_at += 1
            self._sample(slot)
        request.lookup.settle(len(drafts), accepted)
        if accepted < len(drafts):
            lc.llama_memory_seq_rm(self.memory, slot.seq_id, len(slot.tokens), -1)

    def _score(self, slot: Slot, first: int, count: int) -> None:
        """Score the prompt tokens that rows first.. of the batch predicted; once the last is scored, send
        the whole prompt's scores ahead of the answer."""
        request = slot.request
        assert request is not None and request.scoring is not None
        scoring = request.scoring
        scoring.score_rows(self.ctx, first, count, self.n_vocab)
        if request.todo:
            return
        prompt = scoring.prompt
        slot.scored = scoring.saved()
        self.replies.prompt_scores(request, prompt, scoring.scores)

    def _sample(self, slot: Slot) -> None:
        request = slot.request
        assert request is not None
        if not request.prompt_done:
            request.prompt_done = time.perf_counter_ns()
        if request.count >= request.limit:
            self._finish(slot, "length")
            return
        scored = None
        if request.top_logprobs < 0:
            token = request.sampler.sample(self.ctx, slot.logits_at)
        else:
            scored = request.sampler.sample_scored(self.ctx, slot.logits_at, self.n_vocab, request.top_logprobs)
            token = scored.token
        slot.pending = -1
        if lc.llama_vocab_is_eog(self.vocab, token):
            self._finish(slot, "stop")
            return
        request.count += 1
        if request.lookup is not None:
            request.lookup.append(token)
        self.replies.token(request, token, scored)
        if request.stream.stopped:
            self._finish(slot, "stop")
        elif request.stopping:
            self._finish(slot, "cancel")
        elif request.count >= request.limit:
            self._finish(slot, "length")
        elif reason := request.stops.after(token, request.count):
            self._finish(slot, reason)
        else:
            slot.pending = token

    def _finish(self, slot: Slot, reason: str) -> None:
        request = slot.request
        assert request is not None
        slot.request, slot.pending, slot.last_used = None, -1, time.monotonic()
        self.replies.done(request, reason, slot.tokens)

    def _fail(self, slot: Slot, error: EmberError) -> None:
        request = slot.request
        if request is None:
            return
        slot.request, slot.pending = None, -1
        request.sampler.close()
        request.out.put(error)
