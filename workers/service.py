"""One job, start to end: convert, call upstream, stream frames back, bill.

The provider module converts; this module owns everything around it: the deadline,
heartbeats, cancellation, n > 1 fan-out for providers without `n`, the include_usage
chunk, the `done` frame and the UsageEvent (published to JetStream with
`Nats-Msg-Id` = request id, so a retried publish never bills twice).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec
from msgspec import UnsetType

from gateway.contracts.bus import CANCEL_SHUTDOWN, WORKER_SHUTDOWN, Job, UsageEvent
from gateway.contracts.config import ProviderConfig
from gateway.contracts.errors import (
    APIError,
    from_validation_error,
    internal_error,
    invalid_request,
    shutting_down,
    upstream_config_error,
    upstream_error,
    upstream_timeout,
)
from gateway.contracts.log import Logger
from gateway.runtime import tracing
from gateway.runtime.metrics import WorkerMetrics
from gateway.contracts.redact import Redactor
from gateway.contracts.openai import (
    CHAT_REQUEST_DECODER,
    EMBEDDING_REQUEST_DECODER,
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    Delta,
    Embedding,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
    Usage,
    embedding_inputs,
)
from workers import dialects
from workers.dialects import Direct
from workers.dialects.responses.run import ResponsesDialect
from workers.dialects.responses.sink import ResponsesSink
from workers.dialects.responses.store import ResponseStore
from workers.frames import ConvertingSink, FrameSink, Publisher
from workers.load import LoadTracker
from workers.providers.base import (
    ChatResult,
    EmbedResult,
    Provider,
    ReplyContext,
    Target,
    UpstreamError,
    UpstreamRequest,
)
from workers.providers.token_estimate import (
    estimate_chat_prompt,
    estimate_from_chars,
    estimate_text_tokens,
)
from workers.sse import SseDecoder
from workers.upstream import Upstream


@dataclass(slots=True)
class Route:
    """A provider this worker serves: its conversion, its upstream and its settings."""

    name: str
    provider: Provider
    upstream: Upstream
    config: ProviderConfig


@dataclass(slots=True)
class Outcome:
    """What a job spent and how it ended."""

    usage: Usage = field(default_factory=Usage)
    estimated: bool = False
    status: str = "ok"
    error_code: str | None = None
    # For billing when the upstream reported nothing (cancelled, cut, or silent upstream):
    upstream_working: bool = False  # a request went out and was not refused
    prompt_estimate: int = 0
    # Characters streamed (text, reasoning, tool calls) by choices whose upstream never
    # reported an output count: a cut stream, or an upstream that reports no usage.
    unreported_chars: int = 0
    # The upstream's HTTP error status (or the code of a failure without one), for metrics.
    upstream_status: str | None = None

    def billable_usage(self) -> tuple[Usage, bool]:
        """The usage to bill and whether it is (partly) an estimate.

        The upstream's own count when it gave one. When it gave none (a cancelled or cut
        request, or an upstream that reports no usage) but was working on the request (so
        it bills us), an estimate from the prompt and the text streamed; the output of
        stream choices cut before their count came is estimated the same way and added to
        the output the other choices reported.
        """
        usage, estimated = self.usage, self.estimated
        if not (usage.total_tokens or usage.prompt_tokens):
            if self.status != "ok" and not self.upstream_working:
                return usage, estimated
            usage = Usage(prompt_tokens=self.prompt_estimate)
            estimated = True
        if self.unreported_chars:
            completion = usage.completion_tokens + estimate_from_chars(self.unreported_chars)
            usage = Usage(
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=completion,
                total_tokens=usage.prompt_tokens + completion,
                prompt_tokens_details=usage.prompt_tokens_details,
            )
            estimated = True
        elif not usage.total_tokens:
            usage = Usage(prompt_tokens=usage.prompt_tokens, total_tokens=usage.prompt_tokens)
        return usage, estimated


def new_id(prefix: str) -> str:
    """A unique id such as `call_3f2a...`."""
    return f"{prefix}_{secrets.token_hex(12)}"


def provider_redactor(routes: dict[str, Route]) -> Redactor:
    """A redactor of every provider key this worker holds (read from the environment)."""
    return Redactor(route.config.api_key() for route in routes.values())


UsageSink = Callable[[UsageEvent], None]
T = TypeVar("T")


class JobService:
    """Runs jobs for the routes this worker serves."""

    def __init__(
        self,
        nc: Publisher,
        routes: dict[str, Route],
        record_usage: UsageSink,
        log: Logger,
        heartbeat_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        redactor: Redactor | None = None,
        responses_store: ResponseStore | None = None,
        load: LoadTracker | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self._load = load  # in-flight and latency per deployment, for the gateways (issue 16)
        self._metrics = metrics or WorkerMetrics()
        self._nc = nc
        self._responses = ResponsesDialect(responses_store, new_id)
        self._routes = routes
        self._redactor = redactor or provider_redactor(routes)
        self._record_usage = record_usage
        self._log = log
        self._heartbeat_s = heartbeat_s
        self._clock = clock

    async def run(self, job: Job, reply: str) -> None:
        """Run one job to its end; never raises (except cancellation, after billing)."""
        on_first = self._load.begin(job) if self._load is not None else None
        # Each inbound dialect answers in its own shape (workers/dialects/<name>/).
        sink = (ResponsesSink(self._nc, reply, on_first) if job.dialect == "responses"
                else FrameSink(self._nc, reply, on_first))
        outcome = Outcome()
        started = self._clock()
        heartbeat = _Heartbeat(sink, self._heartbeat_s)
        try:
            async with asyncio.timeout(max(0.0, job.deadline - started)):
                if job.op == "embed":
                    await self._embed(job, sink, outcome)
                elif job.op == "count_tokens":
                    await self._count_tokens(job, sink)
                elif job.dialect == "responses":
                    await self._responses.run(job, sink, outcome, self._route, self._chat_converted,
                                              int(self._clock()))
                else:
                    await self._chat(job, sink, outcome)
        except asyncio.CancelledError as ex:
            reason = ex.args[0] if ex.args else None
            if reason == CANCEL_SHUTDOWN:  # the gateway cut it at its shutdown grace
                outcome.status, outcome.error_code = "cut", "gateway_shutdown"
            elif reason == WORKER_SHUTDOWN:  # this worker's own grace is over: tell the gateway
                outcome.status, outcome.error_code = "cut", "worker_shutdown"
                await sink.error(shutting_down("The worker is shutting down and ended the request at its grace period."))
            else:
                outcome.status, outcome.error_code = "cancelled", "client_disconnected"
            raise
        except TimeoutError:
            await self._fail(
                sink, outcome, upstream_timeout("The request did not finish before its deadline.")
            )
        except APIError as ex:
            if isinstance(ex, UpstreamError) and outcome.upstream_status is None:
                outcome.upstream_status = ex.error.code or str(ex.status)  # no HTTP status: unreachable, timeout
            await self._fail(sink, outcome, ex)
        except RecursionError:
            # NOTE: the gateway refuses JSON too deep to decode; this worker's stack may sit
            # a little deeper than the gateway's, so the same body is still the caller's 400.
            await self._fail(sink, outcome, invalid_request("The request body is nested too deeply to convert."))
        except Exception as ex:  # noqa: BLE001 - the process boundary: log once, answer 500
            error = self._redactor.text(f"{type(ex).__name__}: {ex}")
            self._log.error("job_failed", request_id=job.request_id, error=error)
            await self._fail(sink, outcome, internal_error())
        finally:
            heartbeat.cancel()
            if self._load is not None:
                self._load.end(job)
            if job.op != "count_tokens":  # free upstream, so never billed
                self._bill(job, outcome, started)
            self._observe(job, outcome, started)

    def keep_alive(self, reply: str) -> Callable[[], None]:
        """Heartbeats to `reply` (a job waiting for a slot) until the returned stop() is called,
        so the gateway tells a queued job from a dead worker."""
        return _Heartbeat(FrameSink(self._nc, reply), self._heartbeat_s).cancel

    async def refuse(self, reply: str, ex: APIError) -> None:
        """Answer a job that will not run with `ex` (nothing was spent: nothing billed)."""
        await FrameSink(self._nc, reply).error(ex)

    def _observe(self, job: Job, outcome: Outcome, started: float) -> None:
        """The job's metrics and its one `job` line (joined to the gateway's by request id)."""
        elapsed = max(0.0, self._clock() - started)
        m = self._metrics
        m.jobs.labels(job.provider, job.op, outcome.status).inc()
        m.duration.labels(job.provider, job.op).observe(elapsed)
        if outcome.upstream_status is not None:
            m.upstream_errors.labels(job.provider, outcome.upstream_status).inc()
        usage = outcome.usage
        tracing.job_finished(usage.prompt_tokens, usage.completion_tokens, outcome.status, outcome.error_code)
        self._log.info("job", request_id=job.request_id, key_id=job.key_id, model=job.model, provider=job.provider,
                       op=job.op, stream=job.stream, status=outcome.status, error_code=outcome.error_code,
                       upstream_status=outcome.upstream_status, ms=round(elapsed * 1000, 3),
                       prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)

    async def _fail(self, sink: FrameSink, outcome: Outcome, ex: APIError) -> None:
        # NOTE: an error ends the job at the gateway (status, or SSE error event + [DONE]).
        outcome.status, outcome.error_code = "error", ex.error.code or ex.error.type
        # SECURITY: the one exit of every error, for every provider: an upstream may echo
        # our request (its key headers) in its message (issue 12, section 3).
        await sink.error(self._redactor.error(ex))

    def _route(self, job: Job) -> tuple[Route, Target]:
        route = self._routes.get(job.provider)
        if route is None:
            raise upstream_error(f"this worker does not serve provider '{job.provider}'")
        api_key = route.config.api_key()
        if route.config.api_key_env and api_key is None:
            raise upstream_config_error(f"provider '{route.name}' has no API key: the gateway's operator must set "
                                        f"{route.config.api_key_env}")
        target = Target(
            base_url=route.config.base_url,
            api_key=api_key,
            upstream_model=job.upstream_model,
            public_model=job.model,
            options=job.options,
        )
        return route, target

    def _context(self, job: Job, created: int, index: int) -> ReplyContext:
        return ReplyContext(
            completion_id=f"chatcmpl-{job.request_id}",
            created=created,
            model=job.model,
            new_id=new_id,
            choice_index=index,
        )

    # ------------------------------------------------------------------ chat

    async def _chat(self, job: Job, sink: FrameSink, outcome: Outcome) -> None:
        route, target = self._route(job)
        body = job.body
        if job.dialect != "chat":
            # Another inbound dialect: pass through where the provider speaks it, else
            # convert to chat and convert the output back (workers/dialects/).
            dialect = dialects.load(job.dialect)
            direct = dialect.pass_through(route.config.kind, job, target)
            if direct is not None:
                # Only billed from this if the upstream reports nothing: the body's size.
                outcome.prompt_estimate = estimate_from_chars(len(job.body))
                await self._pass_through(route, direct, sink, outcome)
                return
            req = dialect.to_chat(job, target)
            body = CHAT_REQUEST_ENCODER.encode(req)
            sink = ConvertingSink(self._nc, sink.reply, dialect.chat_output(job, int(self._clock())))
        else:
            try:
                req = CHAT_REQUEST_DECODER.decode(job.body)
            except msgspec.ValidationError as ex:
                raise from_validation_error(ex) from ex
        await self._chat_converted(job, req, body, sink, outcome)

    async def _chat_converted(self, job: Job, req: ChatRequest, raw: bytes, sink: FrameSink,
                              outcome: Outcome) -> None:
        """A chat request (the caller's, or one a dialect converted to) run to its end."""
        route, target = self._route(job)
        outcome.prompt_estimate = estimate_chat_prompt(req)
        stream = job.stream
        request = route.provider.chat_request(req, raw, target, stream)
        calls = 1 if route.provider.supports_n else req.choice_count()
        created = int(self._clock())
        if stream:
            await self._chat_stream(job, route, request, calls, created, sink, outcome)
        else:
            contexts = [self._context(job, created, i) for i in range(calls)]
            await self._chat_whole(route, request, contexts, sink, outcome)

    async def _chat_whole(
        self,
        route: Route,
        request: UpstreamRequest,
        contexts: list[ReplyContext],
        sink: FrameSink,
        outcome: Outcome,
    ) -> None:
        async def one(ctx: ReplyContext) -> ChatResult:
            outcome.upstream_working = True
            async with route.upstream.open(request) as response:
                body = await response.read()
                if response.status >= 400:
                    raise _refused(outcome, route.provider.error(response.status, response.headers, body), response.status)
                try:
                    result = route.provider.chat_result(body, ctx)
                except UpstreamError as ex:
                    if ex.usage is not None:  # a failed answer the upstream still billed
                        outcome.usage = outcome.usage.plus(ex.usage)
                    raise
                outcome.usage = outcome.usage.plus(result.usage)
                outcome.estimated = outcome.estimated or result.estimated
                return result

        results = await _all_or_first_error([one(ctx) for ctx in contexts])
        if len(results) == 1:
            await sink.result(results[0].body, outcome.usage)
        else:
            await sink.result(_merge_completions(results, outcome.usage), outcome.usage)

    async def _chat_stream(
        self,
        job: Job,
        route: Route,
        request: UpstreamRequest,
        calls: int,
        created: int,
        sink: FrameSink,
        outcome: Outcome,
    ) -> None:
        usages = [Usage() for _ in range(calls)]
        # The usage chunk carries the id of the stream's other chunks (a pass-through
        # upstream names its own), so every chunk of one response has the same id.
        stream_id = f"chatcmpl-{job.request_id}"
        first = True

        async def send(chunk: ChatCompletionChunk | msgspec.Raw) -> None:
            nonlocal stream_id, first
            if first:
                stream_id, first = _chunk_id(chunk) or stream_id, False
            await sink.chunk(chunk)

        async def one(index: int) -> None:
            ctx = self._context(job, created, index)
            converter = route.provider.chat_stream(ctx, job.include_usage)
            final: Usage | None = None
            chars = 0  # this choice's output so far, for an estimate if no count comes
            outcome.upstream_working = True
            try:
                async with route.upstream.open(request) as response:
                    if response.status >= 400:
                        body = await response.read()
                        raise _refused(outcome, route.provider.error(response.status, response.headers, body), response.status)
                    decoder = SseDecoder()
                    async for raw in response.chunks:
                        for event in decoder.feed(raw):
                            for chunk in converter.feed(event):
                                chars += output_chars(chunk)
                                await send(chunk)
                    for event in decoder.close():
                        for chunk in converter.feed(event):
                            chars += output_chars(chunk)
                            await send(chunk)
                    finished = converter.close()
                    final = finished.usage
                    outcome.estimated = outcome.estimated or finished.estimated
            finally:
                # A broken or cancelled stream is billed for what was reported so far; a
                # converter reports 0 output until the upstream's real count arrived.
                usages[index] = final if final is not None else converter.usage()
                if usages[index].completion_tokens == 0:
                    outcome.unreported_chars += chars
                outcome.usage = _sum(usages)

        await _all_or_first_error([one(i) for i in range(calls)])
        if job.include_usage:
            await sink.chunk(
                ChatCompletionChunk(
                    id=stream_id,
                    created=created,
                    model=job.model,
                    choices=[],
                    usage=outcome.usage,
                )
            )
        await sink.done(outcome.usage)

    # ------------------------------------------------------------------ other dialects

    async def _pass_through(self, route: Route, direct: Direct, sink: FrameSink, outcome: Outcome) -> None:
        """A request in the upstream's own dialect: relayed as is, billed from its usage."""
        request, reader = direct.request, direct.reader
        outcome.upstream_working = True
        async with route.upstream.open(request) as response:
            if response.status >= 400:
                body = await response.read()
                raise _refused(outcome, route.provider.error(response.status, response.headers, body), response.status)
            if not request.stream:
                data, outcome.usage = reader.result(await response.read())
                await sink.result(data, outcome.usage)
                return
            decoder = SseDecoder()
            try:
                async for raw in response.chunks:
                    for event in decoder.feed(raw):
                        for item in reader.feed(event):
                            await sink.chunk(item)
                for event in decoder.close():
                    for item in reader.feed(event):
                        await sink.chunk(item)
                reader.close()
            finally:
                outcome.usage = reader.usage()
        await sink.done(outcome.usage)

    async def _count_tokens(self, job: Job, sink: FrameSink) -> None:
        """A dialect's token count: the upstream's own where it has one, else an estimate."""
        route, target = self._route(job)
        dialect = dialects.load(job.dialect)
        request = dialect.count_tokens(route.config.kind, job, target)
        if request is None:
            await sink.result(dialect.estimate_tokens(job, target))
            return
        async with route.upstream.open(request) as response:
            body = await response.read()
            if response.status >= 400:
                raise route.provider.error(response.status, response.headers, body)
        await sink.result(msgspec.Raw(body))

    # ------------------------------------------------------------------ embeddings

    async def _embed(self, job: Job, sink: FrameSink, outcome: Outcome) -> None:
        try:
            req: EmbeddingRequest = EMBEDDING_REQUEST_DECODER.decode(job.body)
        except msgspec.ValidationError as ex:
            raise from_validation_error(ex) from ex
        inputs = embedding_inputs(req)
        outcome.prompt_estimate = sum(
            estimate_text_tokens(x) if isinstance(x, str) else len(x) for x in inputs
        )
        route, target = self._route(job)
        ctx = self._context(job, int(self._clock()), 0)
        limit = route.provider.max_embed_inputs
        if limit is None or len(inputs) <= limit:
            result = await self._embed_once(route, target, req, job.body, ctx, outcome)
        else:
            # The upstream takes `limit` inputs a call: split, run concurrently, merge in order.
            parts = [msgspec.structs.replace(req, input=list(inputs[i : i + limit]))
                     for i in range(0, len(inputs), limit)]
            calls = [self._embed_once(route, target, part, _EMBED_ENCODER.encode(part), ctx, outcome)
                     for part in parts]
            result = _merge_embeddings(await _all_or_first_error(calls))
        outcome.usage, outcome.estimated = result.usage, result.estimated
        await sink.result(result.body, outcome.usage)

    async def _embed_once(self, route: Route, target: Target, req: EmbeddingRequest, raw: bytes,
                          ctx: ReplyContext, outcome: Outcome) -> EmbedResult:
        request = route.provider.embed_request(req, raw, target)
        outcome.upstream_working = True
        async with route.upstream.open(request) as response:
            body = await response.read()
            if response.status >= 400:
                raise _refused(outcome, route.provider.error(response.status, response.headers, body), response.status)
        return route.provider.embed_result(body, req, ctx)

    # ------------------------------------------------------------------ billing

    def _bill(self, job: Job, outcome: Outcome, started: float) -> None:
        usage, estimated = outcome.billable_usage()
        if outcome.status != "ok" and usage.total_tokens == 0 and usage.prompt_tokens == 0:
            return  # nothing was spent
        self._record_usage(
            UsageEvent(
                request_id=job.request_id,
                key_id=job.key_id,
                key_name=job.key_name,
                model=job.model,
                provider=job.provider,
                upstream_model=job.upstream_model,
                op=job.op,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                total_tokens=usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
                cached_tokens=usage.cached_tokens(),
                cache_write_tokens=usage.cache_write_tokens(),
                estimated=estimated,
                status=outcome.status,
                error_code=outcome.error_code,
                stream=job.stream,
                started_at=started,
                finished_at=self._clock(),
                deployment=job.deployment,
                metered=job.metered,
            )
        )


class _Heartbeat:
    """Sends a heartbeat frame every `interval` seconds until cancelled.

    PERF: a timer on the loop rather than a task per job; most jobs end before the first beat.
    """

    def __init__(self, sink: FrameSink, interval: float) -> None:
        self._sink = sink
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._beats: set[asyncio.Task[None]] = set()
        self._timer = self._loop.call_later(interval, self._beat)

    def _beat(self) -> None:
        task = self._loop.create_task(self._sink.heartbeat())
        self._beats.add(task)
        task.add_done_callback(self._beats.discard)
        self._timer = self._loop.call_later(self._interval, self._beat)

    def cancel(self) -> None:
        """Stop beating."""
        self._timer.cancel()


def _refused(outcome: Outcome, error: UpstreamError, status: int) -> UpstreamError:
    """The upstream answered with an error status: it did no billable work."""
    outcome.upstream_working = False
    outcome.upstream_status = str(status)
    return error


class _FunctionText(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCallText(msgspec.Struct):
    function: _FunctionText | None = None


class _ChunkId(msgspec.Struct):
    id: str = ""


_CHUNK_ID = msgspec.json.Decoder(_ChunkId)


def _chunk_id(chunk: ChatCompletionChunk | msgspec.Raw) -> str:
    """The id of one chunk ("" if a raw one has none)."""
    return _CHUNK_ID.decode(chunk).id if isinstance(chunk, msgspec.Raw) else chunk.id


class _DeltaText(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None  # what some OpenAI-compatible servers call it
    tool_calls: list[_ToolCallText] | None = None


class _ChoiceText(msgspec.Struct):
    delta: _DeltaText = msgspec.field(default_factory=_DeltaText)


class _ChunkText(msgspec.Struct):
    choices: list[_ChoiceText] | None = None


_CHUNK_TEXT = msgspec.json.Decoder(_ChunkText)


def output_chars(chunk: ChatCompletionChunk | msgspec.Raw) -> int:
    """Characters of output in one chunk: content, reasoning and tool calls (names and
    arguments), all billed as output, for an estimate if the upstream's count never comes."""
    if isinstance(chunk, msgspec.Raw):
        try:
            choices = _CHUNK_TEXT.decode(chunk).choices or []
        except msgspec.DecodeError:
            return 0  # a pass-through chunk of another shape: nothing we can count
        deltas: list[_DeltaText | Delta] = [c.delta for c in choices]
    else:
        deltas = [c.delta for c in chunk.choices]
    total = 0
    for delta in deltas:
        reasoning = delta.reasoning if isinstance(delta, _DeltaText) else None
        for text in (delta.content, delta.reasoning_content, reasoning):
            total += len(text) if isinstance(text, str) else 0
        for call in delta.tool_calls if isinstance(delta.tool_calls, list) else []:
            function = call.function
            if function is not None and not isinstance(function, UnsetType):
                for text in (function.name, function.arguments):
                    total += len(text) if isinstance(text, str) else 0
    return total


_EMBED_ENCODER = msgspec.json.Encoder()
CHAT_REQUEST_ENCODER = msgspec.json.Encoder()


def _merge_embeddings(results: list[EmbedResult]) -> EmbedResult:
    """Split embeddings calls -> one response, indices running on across the parts."""
    data: list[Embedding] = []
    usage = Usage()
    first: EmbeddingResponse | None = None
    for result in results:
        body = result.body
        if not isinstance(body, EmbeddingResponse):
            raise internal_error("a provider that splits embeddings returned a raw body")
        first = first or body
        offset = len(data)
        data.extend(Embedding(index=offset + i, embedding=e.embedding) for i, e in enumerate(body.data))
        usage = usage.plus(result.usage)
    assert first is not None
    merged = EmbeddingResponse(
        data=data, model=first.model, usage=EmbeddingUsage(usage.prompt_tokens, usage.total_tokens)
    )
    return EmbedResult(body=merged, usage=usage, estimated=any(r.estimated for r in results))


def _sum(usages: list[Usage]) -> Usage:
    total = Usage()
    for usage in usages:
        total = total.plus(usage)
    return total


def _merge_completions(results: list[ChatResult], usage: Usage) -> ChatCompletion:
    """n single-choice completions (fan-out) -> one completion with choices 0..n-1."""
    first = results[0].body
    if not isinstance(first, ChatCompletion):
        raise internal_error("a provider without `n` returned a raw body")
    choices = []
    for result in results:
        body = result.body
        assert isinstance(body, ChatCompletion)
        choices.extend(body.choices)
    choices.sort(key=lambda c: c.index)
    return ChatCompletion(
        id=first.id, created=first.created, model=first.model, choices=choices, usage=usage
    )


async def _all_or_first_error(coros: Sequence[Awaitable[T]]) -> list[T]:
    """Run concurrently; on the first failure cancel the rest and raise it."""
    if len(coros) == 1:
        return [await coros[0]]
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise

