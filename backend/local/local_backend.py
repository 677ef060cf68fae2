"""LocalBackend: the Backend interface over this machine's model store and llama.cpp."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import ExitStack, aclosing
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ember.backend.asyncbridge import Channel, run_blocking, stream_from_thread
from ember.backend.cachetypes import cache_type
from ember.backend.config import Config
from ember.backend.engine.scheduler import ModelKey, Scheduler, parse_keep_alive
from ember.backend.engine.thinking import split_chunk
from ember.backend.errors import EmberError, InvalidRequest, ModelNotFound
from ember.backend.local.admission import Admission
from ember.backend.local.images import (
    decode_images,
    media_tokens,
    message_images,
    projector_info,
    with_markers,
)
from ember.backend.local.integrity import BlobVerifier
from ember.backend.local.loading import context_layer, load_embedder, load_runner, runner_bytes
from ember.backend.local.requestlimits import (
    check_capabilities,
    check_fits,
    check_image_count,
    check_text,
    check_tokens,
    fit_context,
    keep_alive_seconds,
)
from ember.backend.local.thinkmode import resolve_think, splitter_for
from ember.backend.local.turns import Started, Turn, grammar_for, release, top_logprobs_for
from ember.backend.parameters import Options
from ember.backend.prompt.toolcalls import ToolCallStream
from ember.backend.service import Backend
from ember.backend.store.modelrecord import ModelRecord, load_record
from ember.backend.store.modelstore import ModelStore
from ember.backend.store.names import parse_name
from ember.backend.types import (
    ChatRequest,
    Chunk,
    Embeddings,
    GenerateRequest,
    ImportResult,
    Message,
    ModelInfo,
    ModelSummary,
    PullProgress,
    RunningModel,
    Timings,
    TokenizerInfo,
    merge_text_chunks,
)

if TYPE_CHECKING:
    from ember.backend.engine.offload import OffloadPlan
    from ember.backend.engine.runner import Runner

# A streamed answer's tokens are handed on in windows of this many seconds (20 a second, with
# the first token and the end never held): each wake-up of the event loop costs the same whatever it
# carries, so the serve loop's share of a core stays flat however fast the model decodes.
GATHER = 0.05
T = TypeVar("T")


class LocalBackend(Backend):
    def __init__(self, config: Config | None = None) -> None:
        from ember.backend.config import load_config

        self.config = config or load_config()
        self.store = ModelStore(self.config.models)
        self.store_check = self.store.recover()  # what a killed process left behind is cleared
        self.verifier = BlobVerifier(self.store)  # weights are hashed before their first load
        from ember.backend.engine.memory import available_bytes

        self.offload: dict[ModelKey, OffloadPlan] = {}  # how each resident model was split
        self.scheduler = Scheduler(
            lambda key: self._load_runner(key, Options.merge(context_layer(self.config))),
            max_loaded=self.config.max_loaded_models,
            keep_alive=parse_keep_alive(self.config.keep_alive, 300.0),
            need=lambda key: runner_bytes(key, self.config),
            available=available_bytes,
        )
        self.embedders = Scheduler(load_embedder, max_loaded=self.config.max_loaded_models,
                                   keep_alive=self.scheduler.keep_alive)
        self.admission = Admission(self.config.num_parallel * self.config.max_loaded_models, self.config.max_queue)

    def defaults(self) -> dict[str, object]:
        return context_layer(self.config) or {}

    def _load_runner(self, key: ModelKey, options: Options) -> Runner:
        runner, self.offload[key] = load_runner(key, self.config, options)
        return runner

    # models ---------------------------------------------------------------------------------

    def record(self, name: str) -> ModelRecord:
        parsed = parse_name(name)
        try:
            return load_record(self.store, parsed)
        except ModelNotFound:
            from ember.backend.models.personas import install_steps, persona_for

            persona = persona_for(parsed)  # a shipped persona is installed on first use
            if persona is None:
                raise
            for _event in install_steps(self.store, persona):
                pass
            return load_record(self.store, parsed)

    async def list_models(self) -> list[ModelSummary]:
        def read() -> list[ModelSummary]:
            summaries = []
            for stored in self.store.list():
                try:
                    record = load_record(self.store, stored.name)
                except EmberError:
                    continue
                summaries.append(ModelSummary(stored.name.display(), stored.manifest.digest,
                                              stored.manifest.size, stored.modified, record.details))
            return summaries

        return await run_blocking(read)

    async def show(self, name: str) -> ModelInfo:
        record = await run_blocking(self.record, name)
        from ember.backend.models.modelfile import modelfile_for_record

        info = {k: v for k, v in record.meta.kv.items() if k != "tokenizer.chat_template"}
        info["general.parameter_count"] = record.meta.parameter_count
        return ModelInfo(
            name=record.name.display(),
            details=record.details,
            model_info=info,
            parameters=record.parameters,
            template=record.template or record.meta.chat_template,
            system=record.system,
            license=record.license,
            messages=record.messages,
            modelfile=modelfile_for_record(record),
            modified_at=record.modified,
            capabilities=record.capabilities,
            projector_info=await run_blocking(projector_info, record.projector) if record.projector else {},
        )

    async def copy(self, source: str, destination: str) -> None:
        src, dst = parse_name(source), parse_name(destination)
        await run_blocking(self.store.copy, src, dst)

    async def delete(self, name: str) -> None:
        parsed = parse_name(name)
        try:
            record = await run_blocking(load_record, self.store, parsed)
            self.scheduler.unload(self._key(record))
        except EmberError:
            pass
        await run_blocking(self.store.delete, parsed)

    def create(self, name: str, modelfile: str, *, base_dir: str | None = None,
               quantize: str | None = None) -> AsyncIterator[PullProgress]:
        from ember.backend.models.create import create_model

        target = parse_name(name)
        base = Path(base_dir) if base_dir else None  # None: a Modelfile may name no file (the API)
        return stream_from_thread(lambda cancel: create_model(self.store, target, modelfile, base,
                                                                quantize=quantize, cancel=cancel))

    def pull(self, name: str, *, over_api: bool = False, insecure: bool = False) -> AsyncIterator[PullProgress]:
        from ember.backend.pull.sources import ApiRule, pull

        rule = ApiRule(self.config.pull_hosts) if over_api else None
        return stream_from_thread(lambda cancel: pull(self.store, name, cancel, rule, insecure=insecure))

    async def prune(self, *, partials: bool = False) -> list[str]:
        return await run_blocking(lambda: self.store.prune(partials=partials))

    async def has_blob(self, digest: str) -> bool:
        return self.store.has_blob(digest)

    async def add_blob(self, digest: str, data: AsyncIterator[bytes]) -> None:
        from ember.backend.local.uploads import receive_blob

        await receive_blob(self.store, digest, data)

    def import_models(self, source: str, path: str | None = None) -> AsyncIterator[ImportResult]:
        from ember.backend.pull.imports import import_models

        return stream_from_thread(lambda cancel: import_models(self.store, source, path))

    # inference ------------------------------------------------------------------------------

    def _key(self, record: ModelRecord) -> ModelKey:
        return ModelKey(record.model_path, record.adapters, record.projector)

    def _options(self, record: ModelRecord, request_options: dict[str, Any] | None) -> Options:
        """The request's options over the model's over the defaults, each layer validated once."""
        options = Options.merge(context_layer(self.config), record.parameters, request_options)
        if options.num_thread == 0 and self.config.num_thread:
            options = replace(options, num_thread=self.config.num_thread)
        loaded = next((r.runner for r in self.scheduler.residents() if r.key == self._key(record)), None)
        return fit_context(options, record, self.config.num_parallel, getattr(loaded, "num_ctx", 0),
                           cache_type(self.config.kv_cache_type).value_bytes)

    def _keep_alive(self, value: str | float | None) -> float:
        return keep_alive_seconds(parse_keep_alive(value, self.scheduler.keep_alive))

    def _turn(self, model: str, options: dict[str, Any] | None, keep_alive: str | float | None,
              fmt: str | dict[str, Any] | None) -> Turn:
        """The prologue chat and generate share: the model, its options, keep-alive and grammar."""
        record = self.record(model)
        return Turn(record, self._options(record, options), self._keep_alive(keep_alive), grammar_for(fmt))

    def chat(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        return self._answer(lambda: self._chat_turn(request), request.tools)

    def _chat_turn(self, request: ChatRequest) -> Turn:
        from ember.backend.prompt.render import render_prompt, with_persona  # Jinja: only when a model runs

        turn = self._turn(request.model, request.options, request.keep_alive, request.format)
        record = turn.record
        check_capabilities(record, think=request.think, images=any(m.images for m in request.messages))
        images = message_images(request.messages)  # decoded here, in the prologue's worker thread
        if request.tools and "tools" not in record.capabilities:
            raise InvalidRequest(f'"{request.model}" does not support tools: its template has no place for them')
        if not request.messages:
            return turn  # a load
        messages = with_persona(record, request.messages)
        check_text((m.content for m in messages), "a message")
        think = resolve_think(record, request.think)
        turn.top_logprobs = top_logprobs_for(request.logprobs, request.top_logprobs)

        def tokens(runner: Runner, cancel: threading.Event) -> list[int]:
            said = with_markers(messages, runner.media_marker) if images else messages
            prompt = render_prompt(record, said, bos=runner.bos_text, eos=runner.eos_text, tools=request.tools,
                                   think=think, cancel=cancel)
            turn.splitter = splitter_for(record, prompt)
            add_special = not prompt.startswith(runner.bos_text or "\0")
            if images:
                return media_tokens(turn, runner, prompt, images, add_special)
            ids = runner.tokenize(prompt, add_special=add_special)
            if not request.truncate:
                check_fits(ids, turn.options, runner.num_ctx)
            return ids

        turn.tokens = tokens
        return turn

    def generate(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        return self._answer(lambda: self._generate_turn(request), None)

    def _generate_turn(self, request: GenerateRequest) -> Turn:
        from ember.backend.prompt.render import render_prompt, with_persona  # Jinja: only when a model runs

        turn = self._turn(request.model, request.options, request.keep_alive, request.format)
        record = turn.record
        check_capabilities(record, think=request.think, images=bool(request.images), suffix=bool(request.suffix))
        check_image_count(len(request.images))
        if request.score_prompt and request.images:
            raise InvalidRequest("a prompt with images cannot be scored: send its text alone")
        images = decode_images(request.images)
        if not request.prompt and not request.context:
            return turn  # a load
        check_text([request.prompt, request.system or "", request.template or ""], "the prompt")
        think = resolve_think(record, request.think)
        turn.top_logprobs = top_logprobs_for(request.logprobs, request.top_logprobs)
        turn.score_prompt = request.score_prompt

        def tokens(runner: Runner, cancel: threading.Event) -> list[int]:
            check_tokens(request.context or [], runner.n_vocab)
            marker = runner.media_marker
            if request.raw:
                text = "".join(marker + "\n" for _ in images) + request.prompt.replace(marker, "") if images \
                    else request.prompt
            else:
                said = with_markers([Message("user", request.prompt, images=request.images)], marker) if images \
                    else [Message("user", request.prompt)]
                messages = said if request.context else with_persona(record, said, request.system)
                text = render_prompt(record, messages, bos=runner.bos_text, eos=runner.eos_text,
                                     template=request.template, suffix=request.suffix, think=think,
                                     cancel=cancel)
            turn.splitter = splitter_for(record, text)
            fresh = not request.context and not text.startswith(runner.bos_text or "\0")
            if images:
                return media_tokens(turn, runner, text, images, fresh, request.context or [])
            ids = list(request.context or []) + runner.tokenize(text, add_special=fresh)
            if not request.truncate or request.score_prompt:  # a scored prompt is scored whole
                check_fits(ids, turn.options, runner.num_ctx)
            return ids

        turn.tokens = tokens
        return turn

    async def _answer(self, prepare: Callable[[], Turn], tools: list[dict[str, Any]] | None) -> AsyncIterator[Chunk]:
        """Run the prologue in a worker thread, then stream what the batch loop puts straight into
        this loop's channel: one thread hop per token, no thread held while the answer streams."""
        with self.admission.admit():
            async with aclosing(self._stream(prepare, tools)) as chunks:  # a client that leaves stops it now
                async for chunk in chunks:
                    yield chunk

    async def _stream(self, prepare: Callable[[], Turn], tools: list[dict[str, Any]] | None) -> AsyncGenerator[Chunk]:
        channel: Channel[Chunk] = Channel(asyncio.get_running_loop(), urgent=_last)
        cancel = threading.Event()
        starting = asyncio.ensure_future(run_blocking(self._start, prepare, channel, cancel))
        try:
            started = await asyncio.shield(starting)
            if started.request is None:
                yield Chunk("", done=True, done_reason="unload" if started.turn.keep_alive == 0 else "load",
                            timings=Timings(total_duration=started.total_ns, load_duration=started.load_ns))
                return
            calls = ToolCallStream(tools) if tools else None
            splitter = started.turn.splitter
            while True:
                arrived = await channel.take_all(GATHER)
                ready: list[Chunk] = []
                for chunk in arrived:
                    if chunk.done and chunk.timings is not None:
                        chunk.timings.load_duration = started.load_ns
                        chunk.timings.total_duration += started.load_ns
                    for part in split_chunk(splitter, chunk) if splitter else (chunk,):
                        ready.extend(calls.feed(part) if calls else (part,))
                for chunk in merge_text_chunks(ready) if len(ready) > 1 else ready:
                    yield chunk
                if arrived[-1].done:
                    return
        finally:
            cancel.set()
            await asyncio.shield(release(starting))

    def _start(self, prepare: Callable[[], Turn], out: Channel[Chunk], cancel: threading.Event) -> Started:
        """The blocking part of a turn: check the weights, load the model if needed, submit the prompt."""
        start = time.perf_counter_ns()
        turn = prepare()
        record, options = turn.record, turn.options
        self.verifier.check(record)
        held = ExitStack()
        try:
            runner, load_ns = held.enter_context(self.scheduler.use(
                self._key(record), record.name.display(), turn.keep_alive,
                load=lambda: self._load_runner(self._key(record), options)))
            if turn.tokens is None:
                held.close()
                if turn.keep_alive == 0:  # unloading a model unloads all of it, its embeddings context too
                    self.embedders.unload(self._key(record))
                return Started(turn, None, load_ns, held, total_ns=time.perf_counter_ns() - start)
            request = runner.start(turn.tokens(runner, cancel), options, out, cancel=cancel, grammar=turn.grammar,
                                   top_logprobs=turn.top_logprobs, special=record.channels, media=turn.media,
                                   score_prompt=turn.score_prompt)
        except BaseException:
            held.close()
            raise
        return Started(turn, request, load_ns, held)

    async def embed(self, model: str, inputs: list[str], *, truncate: bool = True) -> list[list[float]]:
        return (await self.embed_with_count(model, inputs, truncate=truncate)).vectors

    async def embed_with_count(self, model: str, inputs: list[str], *, truncate: bool = True) -> Embeddings:
        record = await run_blocking(self.record, model)
        check_text(inputs, "the input")

        def work() -> Embeddings:
            self.verifier.check(record)
            with self.embedders.use(self._key(record), record.name.display()) as (embedder, _load_ns):
                vectors, tokens = embedder.embed(inputs, truncate=truncate)
                return Embeddings(vectors, tokens)

        return await run_blocking(work)

    async def count_tokens(self, request: ChatRequest) -> int:
        from ember.backend.prompt.render import render_prompt, with_persona

        def work(record: ModelRecord, runner: Runner) -> int:
            messages = with_persona(record, request.messages)
            check_text((m.content for m in messages), "a message")
            prompt = render_prompt(record, messages, bos=runner.bos_text, eos=runner.eos_text, tools=request.tools)
            return len(runner.tokenize(prompt, add_special=not prompt.startswith(runner.bos_text or "\0")))

        return await self._on_runner(request.model, work)

    async def tokenize(self, model: str, text: str, *, add_special: bool = True) -> list[int]:
        check_text([text], "the text")
        return await self._on_runner(model, lambda _record, runner: runner.tokenize(text, add_special=add_special))

    async def detokenize(self, model: str, tokens: list[int]) -> str:
        def work(_record: ModelRecord, runner: Runner) -> str:
            check_tokens(tokens, runner.n_vocab)
            return runner.detokenize(tokens)

        return await self._on_runner(model, work)

    async def tokenizer_info(self, model: str) -> TokenizerInfo:
        return await self._on_runner(model, lambda record, runner: TokenizerInfo(
            runner.bos_text if runner.add_bos else "", runner.eos_text, record.meta.chat_template, runner.num_ctx))

    async def _on_runner(self, model: str, work: Callable[[ModelRecord, Runner], T]) -> T:
        """`work` on the model loaded (loaded now if it is not), in a worker thread."""
        def run() -> T:
            record = self.record(model)
            self.verifier.check(record)
            options, key = self._options(record, {}), self._key(record)
            with self.scheduler.use(key, record.name.display(),
                                    load=lambda: self._load_runner(key, options)) as (runner, _load_ns):
                return work(record, runner)

        return await run_blocking(run)

    async def running(self) -> list[RunningModel]:
        result: list[RunningModel] = []
        for resident in self.scheduler.residents() + self.embedders.residents():
            size = resident.key.model.stat().st_size + sum(p.stat().st_size for p in resident.key.adapters)
            try:
                record = await run_blocking(self.record, resident.name)
                digest, details = record.digest, record.details
            except EmberError:
                digest, details = "", None
            runner = resident.runner
            generator = any(resident is r for r in self.scheduler.residents())  # not an embedder
            plan = self.offload.get(resident.key) if generator else None
            if plan is not None:
                plan = plan.at_context(getattr(runner, "num_ctx", 0))
            size, size_vram = (plan.total_bytes, plan.size_vram) if plan else (size, 0)
            if plan and resident.key.projector is not None:  # the projector is loaded beside the weights
                size += resident.key.projector.stat().st_size
            listed = next((m for m in result if m.name == resident.name), None)
            if listed is not None:  # its embedding context: one model, one row, as Ollama shows it
                listed.size += size
                continue
            result.append(RunningModel(resident.name, digest, size, size_vram, resident.expires_at,
                                       getattr(runner, "num_ctx", 0), details))  # type: ignore[arg-type]
        return result

    async def load(self, name: str, keep_alive: str | float | None = None) -> None:
        async for _ in self.generate(GenerateRequest(model=name, keep_alive=keep_alive)):
            pass

    async def unload(self, name: str) -> None:
        record = await run_blocking(self.record, name)
        self.scheduler.unload(self._key(record))
        self.embedders.unload(self._key(record))

    async def close(self) -> None:
        self.scheduler.unload_all()
        self.embedders.unload_all()


def _last(chunk: Chunk) -> bool:
    return chunk.done
