"""ember against llama.cpp's own `llama-server`, in one run: the anchor of the speed table.

Both servers run at once, each in its own process with the same GGUF, threads, slots (`-np`) and
context per slot, and get the same prompt text (the chat template rendered here, sent raw) and the
same greedy sampling; each measure runs on both back to back, which of them goes first alternating
between rounds, so the two figures of a pair are seconds apart on the same machine. Every figure
is measured by the client: the decode rate between the first and the last streamed token, the time
to first token from the moment the request is sent. llama-server is built once by llama_build.py.
A bare loop over the same bindings decodes one and four sequences between the rounds, while both servers
idle: what batching gains on this CPU before any server's work, the ceiling of both servers' gain.
Usage: .venv/bin/python bench/anchor.py [--quick] [--rounds N] [--tokens N] [--long N] [--deep N]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import llama_cpp as lc
from common import MODEL, STORY, Row, machine, model_path, paired_row, print_table
from server import Server, free_port

PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                           "city": {"type": "string"}, "hobbies": {"type": "array",
                                                                                   "items": {"type": "string"}}},
          "required": ["name", "age", "city", "hobbies"]}
JSON_QUESTION = "Invent a person and describe them as JSON with a name, an age, a city and hobbies."
TOPICS = ["a lighthouse keeper", "a mountain village", "a lost robot", "a river journey"]
EDIT_CODE = """import json
from pathlib import Path


def load_settings(path):
    with open(path) as handle:
        data = json.load(handle)
    settings = {}
    for key, value in data.items():
        settings[key.lower()] = value
    return settings


def save_settings(path, settings):
    with open(path, "w") as handle:
        json.dump(settings, handle, indent=2)


def merge_settings(base, override):
    merged = dict(base)
    for key, value in override.items():
        merged[key] = value
    return merged


def settings_files(folder):
    return sorted(Path(folder).glob("*.json"))
"""
EDIT_QUESTION = f"Add a docstring to each function:\n```python\n{EDIT_CODE}```"  # an answer that repeats its input
NO_DRAFTS = {"num_draft": 0}
SHARED = 600  # tokens two prompts sent at once start with
PAIRED = 3  # pairs a round of the short one- and four-stream answers: the goals most within this machine's noise


@dataclass
class Stream:
    """One streamed answer as the client saw it (perf_counter seconds)."""

    sent: float
    first_at: float  # the first token arrived
    last_at: float  # the last token arrived
    count: int

    @property
    def first(self) -> float:
        return self.first_at - self.sent

    @property
    def rate(self) -> float:
        """Tokens per second between the first and the last token."""
        span = self.last_at - self.first_at
        return (self.count - 1) / span if self.count > 1 and span > 0 else 0.0


@functools.cache
def _client():  # noqa: ANN202
    """One client for every request of the run: a new httpx client costs 20 ms here (its TLS context),
    which would count in each time to first token and stagger the streams that should start together.
    Each request gets a connection of its own (a loopback connect is cheap; llama-server closes a kept one
    when it likes, and a request sent on it then fails)."""
    import httpx

    return httpx.Client(timeout=900, limits=httpx.Limits(max_connections=16, max_keepalive_connections=0))


def _stream(url: str, body: dict, parse) -> Stream:  # noqa: ANN001
    client = _client()
    sent = time.perf_counter()
    stamps, lines = [], []
    with client.stream("POST", url, json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.strip():
                stamps.append(time.perf_counter())
                lines.append(line)
    count, content_lines = parse(lines)
    return Stream(sent, stamps[0], stamps[max(content_lines, 1) - 1], count)


class Ember:
    """`ember serve` through Ollama's API: /api/generate with the rendered prompt sent raw."""

    name = "ember"

    def __init__(self, home: Path, *, parallel: int, num_ctx: int) -> None:
        os.environ["EMBER_NUM_PARALLEL"] = str(parallel)
        self.server = Server(home)
        self.num_ctx = num_ctx

    def generate(self, prompt: str, tokens: int, schema: dict | None = None, options: dict | None = None) -> Stream:
        body = {"model": MODEL, "prompt": prompt, "raw": True, "stream": True,
                "options": {"temperature": 0, "num_predict": tokens, "repeat_penalty": 1.0,
                            "num_ctx": self.num_ctx, **(options or {})}}
        if schema is not None:
            body["format"] = schema
        return _stream(f"{self.server.url}/api/generate", body, _ember_lines)

    def loop_cpu_ns(self) -> int:
        """CPU time of the server's main thread, where its event loop runs (HTTP, routes, JSON): ns."""
        pid = self.server.process.pid
        return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[0])

    def close(self) -> None:
        self.server.close()


def _ember_lines(lines: list[str]) -> tuple[int, int]:
    """(tokens, lines up to the last token): a line may carry several tokens; the last one only timings."""
    return json.loads(lines[-1])["eval_count"], len(lines) - 1


class LlamaServer:
    """llama.cpp's `llama-server` through its own /completion endpoint, same slots and context per slot."""

    name = "llama-server"

    def __init__(self, binaries: Path, gguf: Path, *, parallel: int, num_ctx: int, threads: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [str(binaries / "llama-server"), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(self.port),
             "-np", str(parallel), "-c", str(num_ctx * parallel), "--no-kv-unified", "-t", str(threads),
             "-tb", str(threads), "-fa", "auto", "--no-webui"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self._wait()

    def _wait(self) -> None:
        from llama_build import wait_healthy

        wait_healthy(self.url, self.process, 120, self.log)

    def generate(self, prompt: str, tokens: int, schema: dict | None = None, options: dict | None = None) -> Stream:
        """`options` are ember's own and do not apply here: llama-server runs with its defaults (no lookup)."""
        body = {"prompt": prompt, "stream": True, "n_predict": tokens, "temperature": 0, "repeat_penalty": 1.0,
                "cache_prompt": True}
        if schema is not None:
            body["json_schema"] = schema
        return _stream(f"{self.url}/completion", body, _llama_lines)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


def _llama_lines(lines: list[str]) -> tuple[int, int]:
    events = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]
    final = events[-1]
    count = final.get("tokens_predicted") or final["timings"]["predicted_n"]
    content = max(i for i, e in enumerate(events) if e.get("content")) + 1 if any(e.get("content") for e in events) \
        else len(events)
    return count, content


def together(engine, prompts: list[str], tokens: int) -> float:  # noqa: ANN001
    """Aggregate decode rate of len(prompts) answers streamed at once: every token after each stream's
    first, over the span from the first first token to the last last token."""
    results: list[Stream] = []
    barrier = threading.Barrier(len(prompts))

    def one(prompt: str) -> None:
        barrier.wait()
        results.append(engine.generate(prompt, tokens))

    threads = [threading.Thread(target=one, args=(prompt,)) for prompt in prompts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    span = max(r.last_at for r in results) - min(r.first_at for r in results)
    return sum(r.count - 1 for r in results) / span if span > 0 else 0.0


def notes(tokens: int) -> str:
    return " ".join(f"Note {i}: the keeper climbed the stairs, trimmed the wick and logged the weather."
                    for i in range(tokens // 19))


def long_prompt(texts, tokens: int, salt: int) -> str:  # noqa: ANN001
    """A chat prompt of about `tokens` tokens whose first line differs each round, so no cache helps."""
    return texts(f"Round {salt}. Summarise these notes in one sentence.\n{notes(tokens)}")


def shared_start(engine, texts, tokens: int, salt: int) -> float:  # noqa: ANN001
    """Milliseconds until both of two prompts sent at once have their first token, when they share a start
    of about `tokens` tokens (one system prompt, two conversations) that differs each round."""
    start = f"Round {salt}. The keeper's notes follow.\n{notes(tokens)}\n"
    prompts = [texts(start + question) for question in ("What did the keeper trim?", "What did the keeper log?")]
    results: list[Stream] = []
    barrier = threading.Barrier(len(prompts))

    def one(prompt: str) -> None:
        barrier.wait()
        results.append(engine.generate(prompt, 1))

    threads = [threading.Thread(target=one, args=(prompt,)) for prompt in prompts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return max(r.first for r in results) * 1000


def deep_prompt(texts, tokens: int) -> str:  # noqa: ANN001
    """A prompt of about `tokens` tokens asking for a long answer: a long conversation's next turn."""
    return texts(f"{notes(tokens)}\nNow write a long story about the keeper and these nights.")


def measure(*, rounds: int = 5, tokens: int = 64, long: int = 4000, deep: int = 1500, parallel: int = 4) -> list[Row]:
    from bare import BareContext, load_model
    from ember.backend.engine.runner import default_threads
    from ember.backend.engine.tokens import tokenize
    from ember.backend.prompt.jinja import render_chat
    from ember.backend.store.ggufmeta import read_gguf_meta
    from ember.backend.types import Message
    from llama_build import build

    binaries = build()
    gguf = model_path()
    threads = default_threads()
    num_ctx = max(2048, long + 512)
    template = read_gguf_meta(gguf).chat_template

    def texts(question: str) -> str:
        return render_chat(template, [Message("user", question)])

    story = texts(STORY)
    stories = [texts(f"Write a long story about {topic}.") for topic in TOPICS[:parallel]]
    person = texts(JSON_QUESTION)
    edit = texts(EDIT_QUESTION)
    conversation = deep_prompt(texts, deep)  # the same each round: cached, so only its decode is timed
    bare_model = load_model(gguf)  # the CPU's own batching gain: a bare loop, run while both servers idle
    vocab = lc.llama_model_get_vocab(bare_model)
    bare = BareContext(bare_model, num_ctx=num_ctx, threads=threads, sequences=parallel)
    story_ids = tokenize(vocab, story, add_special=False)
    stories_ids = [tokenize(vocab, text, add_special=False) for text in stories]
    bare_gain: list[float] = []
    with tempfile.TemporaryDirectory() as home:
        engines = [Ember(Path(home), parallel=parallel, num_ctx=num_ctx),
                   LlamaServer(binaries, gguf, parallel=parallel, num_ctx=num_ctx, threads=threads)]
        try:
            for engine in engines:  # load, warm up, and each story's prompt cached in a slot
                engine.generate(story, 8)
                engine.generate(person, 8, PERSON)
                engine.generate(edit, 8)
                engine.generate(conversation, 8)
                together(engine, stories, 2)
            figures: dict[str, dict[str, list[float]]] = {e.name: {} for e in engines}
            loop = {"ns": 0, "tokens": 0, "wall": 0}

            def one_stream(engine, n: int, got: dict[str, list[float]]) -> None:  # noqa: ANN001
                if not isinstance(engine, Ember):
                    got.setdefault("one", []).append(engine.generate(story, tokens).rate)
                    return
                if n % 2:  # the same answer with prompt lookup off, just before or just after
                    got.setdefault("one_off", []).append(engine.generate(story, tokens, options=NO_DRAFTS).rate)
                cpu, began = engine.loop_cpu_ns(), time.perf_counter_ns()
                stream = engine.generate(story, tokens)
                loop["ns"] += engine.loop_cpu_ns() - cpu
                loop["wall"] += time.perf_counter_ns() - began
                loop["tokens"] += stream.count
                got.setdefault("one", []).append(stream.rate)
                if not n % 2:
                    got.setdefault("one_off", []).append(engine.generate(story, tokens, options=NO_DRAFTS).rate)

            def json_pair(engine, n: int, got: dict[str, list[float]]) -> None:  # noqa: ANN001
                # the same request with and without its schema, back to back, in turns which goes first
                pair = [("json", PERSON), ("json_free", None)]
                for key, schema in pair if n % 2 == 0 else pair[::-1]:
                    got.setdefault(key, []).append(engine.generate(person, tokens * 2, schema).rate)
                if isinstance(engine, Ember):  # the grammar's own cost: both without prompt lookup, whose
                    # drafts pay on the free answer's repeated prose and hardly on the short JSON object
                    for key, schema in pair if n % 2 else pair[::-1]:
                        got.setdefault(f"{key}_off", []).append(
                            engine.generate(person, tokens * 2, schema, options=NO_DRAFTS).rate)

            def edit_code(engine, n: int, got: dict[str, list[float]]) -> None:  # noqa: ANN001
                got.setdefault("edit", []).append(engine.generate(edit, tokens * 3).rate)
                if isinstance(engine, Ember):  # the same answer with prompt lookup off
                    got.setdefault("edit_off", []).append(engine.generate(edit, tokens * 3, options=NO_DRAFTS).rate)

            def many_streams(engine, n: int, got: dict[str, list[float]]) -> None:  # noqa: ANN001
                got.setdefault("many", []).append(together(engine, stories, tokens))

            steps = [one_stream, many_streams] * PAIRED + [
                json_pair,
                lambda engine, n, got: got.setdefault("deep", []).append(engine.generate(conversation, tokens).rate),
                lambda engine, n, got: got.setdefault("ttft", []).append(
                    engine.generate(long_prompt(texts, long, n), 1).first * 1000),
                lambda engine, n, got: got.setdefault("shared", []).append(shared_start(engine, texts, SHARED, n)),
                edit_code,
            ]
            for n in range(rounds):
                # each measure on both servers back to back, the first of them in turns: a pair's two
                # figures are seconds apart, so the machine's drift between them is small
                for i, step in enumerate(steps):
                    for engine in engines if (n + i // 2) % 2 == 0 else engines[::-1]:
                        step(engine, n, figures[engine.name])
                # one figure a round, beside each of the round's PAIRED gains of the servers
                bare_gain += [bare.decode_together(stories_ids, tokens) / bare.decode(story_ids, tokens)] * PAIRED
        finally:
            for engine in engines:
                engine.close()
            bare.close()
            lc.llama_model_free(bare_model)
    e, ls = figures["ember"], figures["llama-server"]
    gain = [m / o for m, o in zip(e["many"], e["one"], strict=True)]
    ls_gain = [m / o for m, o in zip(ls["many"], ls["one"], strict=True)]
    return [
        paired_row(f"decode, 1 stream ({tokens} t)", e["one"], ls["one"], "t/s", ">= 1.0", "llama-server"),
        paired_row(f"decode, {parallel} streams, aggregate", e["many"], ls["many"], "t/s", ">= 1.05",
                   f"llama-server -np {parallel}"),
        Row(f"{parallel}-stream gain over 1 stream", statistics.median(gain), statistics.median(ls_gain), "×",
            ">= 1.4", "llama-server's own gain", [g / b for g, b in zip(gain, ls_gain, strict=True)]),
        Row(f"{parallel}-stream gain over 1 stream", statistics.median(gain), statistics.median(bare_gain), "×",
            "", f"a bare loop's ({parallel} seqs/batch)", [g / b for g, b in zip(gain, bare_gain, strict=True)]),
        paired_row("decode, JSON schema", e["json"], ls["json"], "t/s", ">= 0.95", "llama-server json_schema"),
        paired_row("decode, JSON schema vs the same request free", e["json"], e["json_free"], "t/s", "",
                   "ember without the schema"),
        paired_row("decode, JSON schema vs free, lookup off", e["json_off"], e["json_free_off"], "t/s", ">= 0.9",
                   "the same, num_draft 0 both"),
        paired_row("decode, JSON schema vs free, llama-server", ls["json"], ls["json_free"], "t/s", "",
                   "llama-server without it"),
        paired_row(f"decode after a {deep}-token prompt", e["deep"], ls["deep"], "t/s", ">= 1.0", "llama-server"),
        paired_row(f"first token, {long}-token prompt", e["ttft"], ls["ttft"], "ms", "<= 1.05", "llama-server"),
        paired_row(f"first tokens, 2 prompts sharing {SHARED} tokens", e["shared"], ls["shared"], "ms", "<= 1.0",
                   "llama-server"),
        paired_row(f"decode, edit this code ({tokens * 3} t)", e["edit"], ls["edit"], "t/s", ">= 1.3",
                   "llama-server (no lookup)"),
        paired_row("decode, edit this code, lookup on/off", e["edit"], e["edit_off"], "t/s", "", "ember num_draft 0"),
        paired_row("decode, free text, lookup on/off", e["one"], e["one_off"], "t/s", ">= 1.0", "ember num_draft 0"),
        Row(f"serve's event loop, 1 stream ({loop['ns'] / 1000 / max(loop['tokens'], 1):.0f} µs/token)",
            100 * loop["ns"] / max(loop["wall"], 1), 2.0, "%", "< 2 %", "the target"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="3 rounds, a 1k-token long prompt")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--long", type=int, default=4000, help="tokens in the time-to-first-token prompt")
    parser.add_argument("--deep", type=int, default=1500, help="tokens of context before the decode-at-depth answer")
    args = parser.parse_args()
    rounds, long = (3, 1000) if args.quick else (args.rounds, args.long)
    print_table(measure(rounds=rounds, tokens=args.tokens, long=long, deep=args.deep), machine())


if __name__ == "__main__":
    main()
