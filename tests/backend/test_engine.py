"""The engine on the real SmolLM2 model."""

from __future__ import annotations

import threading
from functools import lru_cache

from ember.backend.parameters import Options
from ember.backend.prompt.jinja import render_chat
from ember.backend.store.ggufmeta import read_gguf_meta
from ember.backend.types import Message

GREEDY = {"temperature": 0, "seed": 42, "num_ctx": 2048}


def chat_tokens(runner, text: str) -> list[int]:
    prompt = render_chat(_template(runner.path), [Message("user", text)])
    return runner.tokenize(prompt, add_special=False)


@lru_cache
def _template(path) -> str:
    return read_gguf_meta(path).chat_template


def answer(runner, text: str, **options) -> tuple[str, object]:
    chunks = list(runner.generate(chat_tokens(runner, text), Options.merge(GREEDY, options)))
    final = chunks[-1]
    assert final.done
    return "".join(c.text for c in chunks), final


def test_greedy_with_a_seed_is_deterministic(runner):
    first, _ = answer(runner, "Name three colours.", num_predict=24)
    second, _ = answer(runner, "Name three colours.", num_predict=24)
    assert first and first == second


def test_seeded_sampling_repeats_and_different_seeds_differ(runner):
    opts = {"temperature": 1.5, "top_k": 0, "top_p": 1.0, "num_predict": 24}
    a, _ = answer(runner, "Tell me a story.", seed=7, **opts)
    b, _ = answer(runner, "Tell me a story.", seed=7, **opts)
    c, _ = answer(runner, "Tell me a story.", seed=8, **opts)
    assert a == b
    assert a != c


def test_num_predict_limits_the_answer_and_reports_length(runner):
    _, final = answer(runner, "Write a long essay about the sea.", num_predict=5)
    assert final.timings.eval_count == 5
    assert final.done_reason == "length"


def test_stop_string_ends_the_answer_and_is_not_shown(runner):
    full, _ = answer(runner, "Count from 1 to 10, separated by commas.", num_predict=40)
    assert "4" in full
    cut, final = answer(runner, "Count from 1 to 10, separated by commas.", num_predict=40, stop=["4"])
    assert "4" not in cut
    assert full.startswith(cut)
    assert final.done_reason == "stop"


def test_timings_are_reported_in_nanoseconds(runner):
    _, final = answer(runner, "Hi", num_predict=4)
    t = final.timings
    assert t.prompt_eval_count > 0 and t.eval_count == 4
    assert t.eval_duration > 0 and t.prompt_eval_duration > 0
    assert t.total_duration >= t.eval_duration


def test_shared_prefix_is_not_evaluated_again(runner):
    tokens = chat_tokens(runner, "What is the capital of France?")
    runner.forget()
    first = list(runner.generate(tokens, Options.merge(GREEDY, {"num_predict": 2})))[-1]
    second = list(runner.generate(tokens + runner.tokenize(" Paris", add_special=False),
                                  Options.merge(GREEDY, {"num_predict": 2})))[-1]
    assert first.timings.prompt_eval_count == len(tokens) and first.timings.prompt_eval_cached_count == 0
    # Ollama's count is the whole prompt; the cached part is counted beside it
    t = second.timings
    assert t.prompt_eval_count == len(tokens) + 1 and t.prompt_evaluated <= 3


def test_cached_and_uncached_turns_give_the_same_tokens(runner):
    warm, _ = answer(runner, "Say hello in French.", num_predict=12)
    runner.forget()
    cold, _ = answer(runner, "Say hello in French.", num_predict=12)
    assert warm == cold


def test_emoji_and_cjk_stream_as_whole_characters(runner):
    text = "🔥🎉 日本語のテキスト ü"
    tokens = runner.tokenize(text, add_special=False)
    assert runner.detokenize(tokens) == text
    pieces = []
    from ember.backend.engine.textstream import TextStream

    stream = TextStream()
    for token in tokens:
        pieces.append(stream.feed(runner.piece_bytes(token)))
    assert all("\ufffd" not in p for p in pieces)
    assert "".join(pieces) + stream.flush() == text


def test_cancel_stops_generation_promptly(runner):
    cancel = threading.Event()
    count = 0
    final = None
    for chunk in runner.generate(chat_tokens(runner, "Write a very long story."),
                                 Options.merge(GREEDY, {"num_predict": 500}), cancel=cancel):
        count += 1
        if count == 3:
            cancel.set()
        final = chunk
    assert final.done and final.done_reason == "cancel"
    assert final.timings.eval_count <= 4


def test_context_shift_lets_generation_run_past_num_ctx(smollm2_gguf):
    from ember.backend.engine.runner import Runner

    small = Runner(smollm2_gguf, num_ctx=64)
    try:
        opts = Options.merge({"temperature": 0, "num_ctx": 64, "num_predict": 120, "repeat_penalty": 1.3})
        chunks = list(small.generate(chat_tokens(small, "Tell me about cats."), opts))
        assert chunks[-1].timings.eval_count == 120
    finally:
        small.close()


def test_a_context_too_large_for_memory_is_an_error_and_the_model_keeps_working(runner):
    import pytest
    from ember.backend.errors import EmberError

    with pytest.raises(EmberError, match="could not create a context"):
        answer(runner, "Hi", num_ctx=1 << 20, num_predict=2)
    text, final = answer(runner, "Hi", num_predict=3)
    assert final.timings.eval_count == 3 and runner.num_ctx == 2048


def test_flash_attention_is_llama_cpps_choice_unless_set_and_both_ways_answer(smollm2_gguf):
    import llama_cpp as lc
    from ember.backend.engine.runner import Runner, flash_attention_type

    assert flash_attention_type("auto") == lc.LLAMA_FLASH_ATTN_TYPE_AUTO
    assert flash_attention_type("on") == lc.LLAMA_FLASH_ATTN_TYPE_ENABLED
    assert flash_attention_type("off") == lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
    texts = {}
    for setting in ("auto", "off"):
        small = Runner(smollm2_gguf, num_ctx=256, num_parallel=1, flash_attention=setting)
        try:
            assert small.loop.flash_attention == flash_attention_type(setting)
            chunks = list(small.generate(chat_tokens(small, "Name a colour."),
                                         Options.merge(GREEDY, {"num_predict": 6, "num_ctx": 256})))
            assert chunks[-1].timings.eval_count == 6
            texts[setting] = "".join(c.text for c in chunks)
        finally:
            small.close()
    assert all(text.strip() for text in texts.values())


def test_a_greedy_chain_picks_by_argmax_the_tokens_llama_cpps_greedy_sampler_picks(runner, monkeypatch):
    from ember.backend.engine.sampler import SamplerChain

    plain = {"repeat_penalty": 1.0, "num_predict": 48}
    for options, argmax in ((plain, True), ({"repeat_penalty": 1.1}, False), ({"temperature": 0.5}, False)):
        chain = SamplerChain(runner.vocab, runner.n_vocab, Options.merge(GREEDY, options))
        assert chain.argmax is argmax
        chain.close()
    runner.forget()
    fast, _ = answer(runner, "Write a short poem about rain.", **plain)
    built = SamplerChain.__init__

    def chain_only(self, *args, **kwargs) -> None:
        built(self, *args, **kwargs)
        self.argmax = False

    monkeypatch.setattr(SamplerChain, "__init__", chain_only)
    runner.forget()
    chained, _ = answer(runner, "Write a short poem about rain.", **plain)
    assert fast and fast == chained
