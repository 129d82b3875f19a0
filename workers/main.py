"""Worker process: serve every configured provider from the NATS queue groups.

Start-up refuses a config whose provider kind has no module. SIGTERM/SIGINT stop taking
jobs (the job subscriptions are drained, so a job already delivered still runs), let
running ones finish for `[workers] shutdown_grace_s`, cut the rest (an error frame to the
gateway, usage billed with status "cut"), publish every usage event, then drain.

Each provider has its own lane: `max_concurrent_jobs` slots and `max_queued_jobs` places
to wait (its own config, else `[workers]`), so a slow provider fills only its own lane and
never delays the others (issue 14, item 5). A waiting job heartbeats like a running one;
a job finding its lane full is refused at once (503 `worker_busy`, retry-after).
"""

from __future__ import annotations

import asyncio
import signal
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from gateway.runtime import natsbus, tracing
from gateway.contracts import config as configuration
from gateway.contracts.errors import shutting_down, worker_busy
from gateway.contracts.bus import (
    CANCEL_DECODER,
    Job,
    CANCEL_PREFIX,
    CANCEL_SHUTDOWN,
    JOB_DECODER,
    WORKER_SHUTDOWN,
    chat_subject,
    embed_subject,
    PING_PREFIX,
    ping_subject,
    pong,
    worker_queue,
)
from gateway.contracts.log import Logger
from gateway.contracts.redact import MIN_SECRET_CHARS
from workers.dialects.responses.store import ResponseStore
from workers.load import LoadTracker, report_load
from gateway.runtime.metrics import WorkerMetrics, serve
from gateway.runtime.status import Identity, answer_status
from workers.job import Route, missing_secrets, missing_variable, placeholder_keys, provider_redactor
from workers.providers import load
from workers.service import JobService
from workers.upstream import Upstream
from workers.usage_publisher import UsagePublisher

METRICS_PORT_ENV = "WORKER_METRICS_PORT"


def build_routes(config: configuration.Config) -> dict[str, Route]:
    """One Route per configured provider; raises if a kind cannot be loaded."""
    routes = {}
    for name, provider_config in config.providers.items():
        provider = load(provider_config.kind)
        upstream = Upstream(name, provider_config, local=provider.local_upstream)
        routes[name] = Route(name, provider, upstream, provider_config)
    return routes


@dataclass(slots=True)
class Lane:
    """One provider's job slots and waiting places in this worker."""

    slots: asyncio.Semaphore
    capacity: int  # running + waiting
    admitted: int = 0  # jobs taken and not finished (counted when taken, so a burst cannot overfill)


def lanes(config: configuration.Config) -> dict[str, Lane]:
    """Each provider's lane, from its own limits or the `[workers]` defaults."""
    result = {}
    for name, provider in config.providers.items():
        running = provider.max_concurrent_jobs or config.workers.max_concurrent_jobs
        waiting = config.workers.max_queued_jobs if provider.max_queued_jobs is None else provider.max_queued_jobs
        result[name] = Lane(asyncio.Semaphore(running), running + waiting)
    return result


class Worker:
    """Subscriptions and running jobs of one worker process."""

    def __init__(self, nc: Client, service: JobService, routes: dict[str, Route], lanes: dict[str, Lane],
                 log: Logger, metrics: WorkerMetrics | None = None) -> None:
        self._metrics = metrics or WorkerMetrics()
        self._nc = nc
        self._service = service
        self._routes = routes
        self._log = log
        self._lanes = lanes
        self._running: dict[str, asyncio.Task[None]] = {}
        self._job_subs: list[Subscription] = []
        self._refusals: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Subscribe to jobs, pings and cancels of every route."""
        for name in self._routes:
            queue = worker_queue(name)
            for subject in (chat_subject(name), embed_subject(name)):
                self._job_subs.append(await self._nc.subscribe(subject, queue=queue, cb=self._on_job))
            self._job_subs.append(await self._nc.subscribe(ping_subject(name), queue=queue, cb=self._on_ping))
        await self._nc.subscribe(f"{CANCEL_PREFIX}*", cb=self._on_cancel)
        await self._nc.flush()

    async def _on_job(self, msg: Msg) -> None:
        try:
            job = JOB_DECODER.decode(msg.data)
        except msgspec.DecodeError as ex:
            self._log.error("bad_job", error=str(ex))
            return
        lane = self._lanes.get(job.provider)
        if lane is not None and lane.admitted >= lane.capacity:
            self._log.warning("job_refused_busy", request_id=job.request_id, provider=job.provider)
            refusal = asyncio.create_task(self._service.refuse(msg.reply, worker_busy(job.provider)))
            self._refusals.add(refusal)
            refusal.add_done_callback(self._refusals.discard)
            return
        if lane is not None:
            lane.admitted += 1
        task = asyncio.create_task(self._run(job, msg.reply, lane, msg.headers))
        self._running[job.request_id] = task
        task.add_done_callback(partial(_forget, self._running, job.request_id))

    async def _run(self, job: Job, reply: str, lane: Lane | None, headers: dict[str, str] | None = None) -> None:
        stop_beating = None
        in_flight = self._metrics.in_flight.labels(job.provider)
        in_flight.inc()
        route = self._routes.get(job.provider)
        kind = route.config.kind if route is not None else job.provider
        try:
            if lane is not None:
                if lane.slots.locked():
                    stop_beating = self._service.keep_alive(reply)
                await lane.slots.acquire()
                if stop_beating is not None:
                    stop_beating()
                    stop_beating = None
            try:
                with tracing.job(job.op, job.model, job.upstream_model, kind, job.request_id, headers):
                    await self._service.run(job, reply)
            finally:
                if lane is not None:
                    lane.slots.release()
        except asyncio.CancelledError as ex:
            self._log.info("job_cancelled", request_id=job.request_id, reason=ex.args[0] if ex.args else None)
            if stop_beating is not None and ex.args and ex.args[0] == WORKER_SHUTDOWN:
                # still waiting for a slot: nothing ran, nothing is billed; the gateway hears why
                await self._service.refuse(reply, shutting_down())
        finally:
            in_flight.dec()
            if stop_beating is not None:
                stop_beating()
            if lane is not None:
                lane.admitted -= 1

    @property
    def in_flight(self) -> int:
        """Jobs running or queued now."""
        return len(self._running)

    async def _on_ping(self, msg: Msg) -> None:
        if msg.reply:
            route = self._routes.get(msg.subject[len(PING_PREFIX):])
            lacking = None if route is None else missing_variable(route)
            await self._nc.publish(msg.reply, pong(lacking))

    async def _on_cancel(self, msg: Msg) -> None:
        try:
            cancel = CANCEL_DECODER.decode(msg.data)
        except msgspec.DecodeError:
            return
        task = self._running.get(cancel.request_id)
        if task is not None:
            # NOTE: the reason rides on the CancelledError: a shutdown cut is billed as "cut"
            task.cancel(CANCEL_SHUTDOWN if cancel.reason == CANCEL_SHUTDOWN else None)

    async def stop(self, grace_s: float) -> None:
        """Stop taking jobs, let running ones finish for `grace_s`, then cut the rest."""
        for sub in self._job_subs:
            try:
                await sub.drain()  # type: ignore[no-untyped-call]  # NOTE: delivered jobs still run
            except nats.errors.Error as ex:
                self._log.warning("job_unsubscribe_failed", error=type(ex).__name__)
        running = list(self._running.values())
        self._log.info("worker_draining", jobs=len(running), grace_s=grace_s)
        if running:
            _, pending = await asyncio.wait(running, timeout=grace_s)
            if pending:
                self._log.warning("worker_cut", jobs=len(pending))
            for task in pending:
                task.cancel(WORKER_SHUTDOWN)
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*self._refusals, return_exceptions=True)


def _forget(running: dict[str, asyncio.Task[None]], request_id: str, _task: asyncio.Task[None]) -> None:
    running.pop(request_id, None)


async def main() -> None:
    """Run one worker process until SIGTERM/SIGINT."""
    config = configuration.load()
    routes = build_routes(config)
    redactor = provider_redactor(routes)
    log = Logger("worker", redactor=redactor)
    for provider, variable in placeholder_keys(routes):
        log.warning("provider_key_not_secret", provider=provider, variable=variable,
                    note=f"shorter than {MIN_SECRET_CHARS} characters: taken as a placeholder, not scrubbed from text")
    if tracing.setup("worker"):
        log.info("tracing_on")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        nc = await natsbus.connect("worker", log=log)

        async def drain() -> None:
            try:
                await nc.drain()
            except (nats.errors.Error, asyncio.TimeoutError) as ex:
                log.warning("nats_drain_failed", error=type(ex).__name__)

        stack.push_async_callback(drain)
        for route in routes.values():
            stack.push_async_callback(route.upstream.aclose)
        while True:  # NOTE: a cluster's JetStream may still be electing its leader
            try:
                await natsbus.ensure_usage_stream(nc.jetstream())
                break
            except (nats.errors.Error, asyncio.TimeoutError) as ex:
                log.warning("usage_stream_retry", error=f"{type(ex).__name__}: {ex}")
                await asyncio.sleep(0.5)
        usage = UsagePublisher(nc.jetstream(), log)
        usage.start()
        responses_store = ResponseStore(nc.jetstream(), config.responses.store_ttl_s, log)
        tracker = LoadTracker()
        metrics = WorkerMetrics()
        serve(METRICS_PORT_ENV, metrics.registry, log)
        service = JobService(nc, routes, usage.record, log, heartbeat_s=config.workers.heartbeat_s,
                             redactor=redactor, responses_store=responses_store, load=tracker, metrics=metrics)
        worker = Worker(nc, service, routes, lanes(config), log, metrics)
        await worker.start()
        reporter = asyncio.create_task(report_load(nc, tracker, config.routing.load_report_s, log))
        stack.callback(reporter.cancel)
        identity = Identity("worker")
        await answer_status(nc, "worker", lambda: identity.status(in_flight=worker.in_flight,
                                                                   providers=sorted(routes),
                                                                   missing_secrets=missing_secrets(routes)), log)
        log.info("worker_ready", providers=sorted(routes))
        for name, route in sorted(routes.items()):
            if (lacking := missing_variable(route)) is not None:
                log.warning("provider_secret_missing", provider=name, variable=lacking,
                            effect="its models answer 404 model_unavailable")
        await stop.wait()
        log.info("worker_stopping")
        await worker.stop(config.workers.shutdown_grace_s)
        await usage.close()


def run() -> None:
    """Console entry point."""
    try:
        asyncio.run(main())
    except configuration.ConfigError as ex:
        Logger("worker").error("config_error", error=str(ex))
        raise SystemExit(2) from ex


if __name__ == "__main__":
    run()
