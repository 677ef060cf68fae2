"""What the batch loop puts into a request's outbox: the text of each sampled token (with its log
probabilities when asked), a scored prompt's log probabilities ahead of the answer, and the last chunk
with Ollama's timings. Token pieces are bytes decoded incrementally, so a character split across tokens
is sent whole."""

from __future__ import annotations

import ctypes
import time

import llama_cpp as lc
from ember.backend.engine.promptscores import RowScore
from ember.backend.engine.sampler import Scored
from ember.backend.engine.slots import Request
from ember.backend.types import Chunk, PromptLogprobs, Timings, TokenChoice, TokenLogprob

PIECE_BYTES = 256


class Replies:
    """One model's tokens turned into chunks for its requests (used by the batch thread only)."""

    def __init__(self, vocab: lc.llama_vocab_p) -> None:
        self.vocab = vocab
        self._piece = ctypes.create_string_buffer(PIECE_BYTES)

    def token(self, request: Request, token: int, scored: Scored | None) -> None:
        """Send a sampled token's text (held back while it ends inside a character or a stop sequence)."""
        piece = self.token_bytes(token, request.special)
        if scored is not None:
            request.logprobs.append(self.logprob(piece, scored.logprob, scored.top))
        text = request.stream.feed(piece) if piece else ""
        if text and request.logprobs:
            request.out.put(Chunk(text, logprobs=request.logprobs))
            request.logprobs = []
        elif text:
            request.out.put(Chunk(text))

    def prompt_scores(self, request: Request, prompt: list[int], scores: list[RowScore]) -> None:
        """Send a scored prompt's log probabilities: its first token has none, each later one the score
        of the row before it."""
        head = self.token_bytes(prompt[0], special=True)
        rest = [self.logprob(self.token_bytes(token, special=True), score.logprob, score.top)
                for token, score in zip(prompt[1:], scores, strict=True)]
        request.out.put(Chunk("", prompt_logprobs=PromptLogprobs(head.decode("utf-8", "replace"), list(head), rest)))

    def done(self, request: Request, reason: str, tokens: list[int]) -> None:
        """Send what text is held back, then the last chunk with the timings; the request's sampler is freed."""
        rest = request.stream.flush()
        if rest or request.logprobs:
            request.out.put(Chunk(rest, logprobs=request.logprobs))
            request.logprobs = []
        now = time.perf_counter_ns()
        prompt_done = request.prompt_done or now
        timings = Timings(
            total_duration=now - request.started,
            prompt_eval_count=request.prompt_count,
            prompt_eval_cached_count=request.prompt_cached,
            prompt_eval_duration=prompt_done - request.started,
            eval_count=request.count,
            eval_duration=now - prompt_done,
            draft_count=request.lookup.drafted if request.lookup else 0,
            draft_accepted=request.lookup.accepted if request.lookup else 0,
        )
        request.sampler.close()
        request.out.put(Chunk("", done=True, done_reason=reason, timings=timings, context=list(tokens),
                              stop_sequence=request.stream.matched))

    def token_bytes(self, token: int, special: bool = False) -> bytes:
        size = lc.llama_token_to_piece(self.vocab, token, self._piece, PIECE_BYTES, 0, special)
        return self._piece.raw[:size] if size > 0 else b""

    def logprob(self, piece: bytes, logprob: float, top: list[tuple[int, float]]) -> TokenLogprob:
        choices = []
        for token, value in top:
            raw = self.token_bytes(token)
            choices.append(TokenChoice(raw.decode("utf-8", "replace"), value, list(raw)))
        return TokenLogprob(piece.decode("utf-8", "replace"), logprob, list(piece), choices)
