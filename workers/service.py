"""One job, start to end: its dialect's plan, the upstream call, frames back, the bill.

The provider module converts and the job's dialect chooses pass-through or conversion
(workers/dialects/); this module drives the job around them: the deadline, heartbeats,
cancellation and the one error exit. The rest has a home each: the route, Target and
Outcome in job.py, the upstream call in pump.py, n > 1 fan-out in fanout.py, the
UsageEvent in billing.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import msgspec

from gateway.contracts.bus import CANCEL_SHUTDOWN, WORKER_SHUTDOWN, Job
from gateway.contracts.errors import (
    APIError,
    from_validation_error,
    internal_error,
    invalid_request,
    shutting_down,
    upstream_timeout,
)
from gateway.contracts.log import Logger
from gateway.contracts.openai import (
    CHAT_REQUEST_DECODER,
    EMBEDDING_REQUEST_DECODER,
    EmbeddingRequest,
    embedding_inputs,
)
from gateway.contracts.redact import Redactor
from gateway.runtime import tracing
from gateway.runtime.metrics import WorkerMetrics
from workers import dialects, fanout, pump
from workers.billing import UsageSink, bill
from workers.dialects import Converted, Dialect, Direct
from workers.dialects.responses.dialect import ResponsesDialect
from workers.dialects.responses.store import ResponseStore
from workers.frames import FrameSink, Publisher
from workers.job import Outcome, Route, provider_redactor, reply_context, resolve
from workers.load import LoadTracker
from workers.providers.base import EmbedResult, ReplyContext, Target, UpstreamError
from workers.providers.token_estimate import estimate_chat_prompt, estimate_text_tokens

__all__ = ["JobService", "Outcome", "Route", "provider_redactor"]


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
        # Dialects with state of this worker's; the others load by name (workers/dialects/).
        self._dialects: dict[str, Dialect] = {"responses": ResponsesDialect(responses_store)}
        self._routes = routes
        self._redactor = redactor or provider_redactor(routes)
        self._record_usage = record_usage
        self._log = log
        self._heartbeat_s = heartbeat_s
        self._clock = clock

    async def run(self, job: Job, reply: str) -> None:
        """Run one job to its end; never raises (except cancellation, after billing)."""
        on_first = self._load.begin(job) if self._load is not None else None
        # Its dialect's Output is set once the dialect has chosen it (_chat).
        sink = FrameSink(self._nc, reply, on_first)
        outcome = Outcome()
        started = self._clock()
        heartbeat = _Heartbeat(sink, self._heartbeat_s)
        try:
            async with asyncio.timeout(max(0.0, job.deadline - started)):
                if job.op == "embed":
                    await self._embed(job, sink, outcome)
                elif job.op == "count_tokens":
                    await self._count_tokens(job, sink, outcome)
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
                bill(self._record_usage, job, outcome, started, self._clock())
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
                       prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                       **({"dropped_params": ",".join(outcome.dropped)} if outcome.dropped else {}))

    async def _fail(self, sink: FrameSink, outcome: Outcome, ex: APIError) -> None:
        # NOTE: an error ends the job at the gateway (status, or SSE error event + [DONE]).
        outcome.status, outcome.error_code = "error", ex.error.code or ex.error.type
        # SECURITY: the one exit of every error, for every provider: an upstream may echo
        # our request (its key headers) in its message (issue 12, section 3).
        await sink.error(self._redactor.error(ex))

    # ------------------------------------------------------------------ chat and dialects

    async def _chat(self, job: Job, sink: FrameSink, outcome: Outcome) -> None:
        route, target = resolve(self._routes, job)
        plan = await self._prepare(job, route, target)
        sink.output = plan.output  # the job's answer leaves in its dialect
        if isinstance(plan, Direct):
            _dropped(plan.request.dropped, sink, outcome)
            await pump.pass_through(route, plan, sink, outcome)
            return
        outcome.prompt_estimate = estimate_chat_prompt(plan.chat)
        request = route.provider.chat_request(plan.chat, plan.body, target, job.stream)
        _dropped((*plan.dropped, *request.dropped), sink, outcome)
        calls = 1 if route.provider.supports_n else plan.chat.choice_count()
        created = int(self._clock())
        if job.stream:
            await fanout.chat_stream(job, route, request, calls, created, sink, outcome)
        else:
            contexts = [reply_context(job, created, i) for i in range(calls)]
            await fanout.chat_whole(route, request, contexts, sink, outcome)

    async def _prepare(self, job: Job, route: Route, target: Target) -> Direct | Converted:
        """The job's plan: chat as the caller sent it, or what its dialect makes of it."""
        if job.dialect == "chat":
            try:
                return Converted(CHAT_REQUEST_DECODER.decode(job.body), job.body)
            except msgspec.ValidationError as ex:
                raise from_validation_error(ex) from ex
        return await self._dialect(job.dialect).prepare(job, route, target, int(self._clock()))

    def _dialect(self, name: str) -> Dialect:
        return self._dialects.get(name) or dialects.load(name)

    async def _count_tokens(self, job: Job, sink: FrameSink, outcome: Outcome) -> None:
        """A dialect's token count: the upstream's own where it has one, else an estimate
        (free upstream, so never billed)."""
        route, target = resolve(self._routes, job)
        dialect = self._dialect(job.dialect)
        request = dialect.count_tokens(route.config.kind, job, target)
        if request is None:
            await sink.result(dialect.estimate_tokens(job, target))
            return
        await sink.result(msgspec.Raw(await pump.whole(route, request, outcome)))

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
        route, target = resolve(self._routes, job)
        ctx = reply_context(job, int(self._clock()), 0)
        limit = route.provider.max_embed_inputs
        if limit is None or len(inputs) <= limit:
            result = await self._embed_once(route, target, req, job.body, ctx, outcome)
        else:
            # The upstream takes `limit` inputs a call: split, run concurrently, merge in order.
            parts = [msgspec.structs.replace(req, input=list(inputs[i : i + limit]))
                     for i in range(0, len(inputs), limit)]
            calls = [self._embed_once(route, target, part, _EMBED_ENCODER.encode(part), ctx, outcome)
                     for part in parts]
            result = fanout.merge_embeddings(await fanout.all_or_first_error(calls))
        outcome.usage, outcome.estimated = result.usage, result.estimated
        await sink.result(result.body, outcome.usage)

    async def _embed_once(self, route: Route, target: Target, req: EmbeddingRequest, raw: bytes,
                          ctx: ReplyContext, outcome: Outcome) -> EmbedResult:
        body = await pump.whole(route, route.provider.embed_request(req, raw, target), outcome)
        return route.provider.embed_result(body, req, ctx)


def _dropped(params: tuple[str, ...], sink: FrameSink, outcome: Outcome) -> None:
    """What the provider left out of the request: named on the first frame and in the log."""
    if params:
        sink.dropped = list(params)
        outcome.dropped = params


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


_EMBED_ENCODER = msgspec.json.Encoder()
