"""Worker process: serve every configured provider from the NATS queue groups.

Start-up refuses a config whose provider kind has no module. SIGTERM/SIGINT stop taking
jobs, let running ones finish (up to a grace period), publish pending usage, then drain.
"""

from __future__ import annotations

import asyncio
import signal
from contextlib import AsyncExitStack
from functools import partial

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from gateway import natsbus, tracing
from gateway.contracts import config as configuration
from gateway.contracts.bus import (
    CANCEL_DECODER,
    CANCEL_PREFIX,
    JOB_DECODER,
    chat_subject,
    embed_subject,
    ping_subject,
    worker_queue,
)
from gateway.contracts.log import Logger
from gateway.metrics import WorkerMetrics, serve
from gateway.status import Identity, answer_status
from workers.providers import load
from workers.service import JobService, Route, provider_redactor
from workers.upstream import Upstream
from workers.usage_publisher import UsagePublisher

SHUTDOWN_GRACE_S = 30.0
METRICS_PORT_ENV = "WORKER_METRICS_PORT"


def build_routes(config: configuration.Config) -> dict[str, Route]:
    """One Route per configured provider; raises if a kind cannot be loaded."""
    routes = {}
    for name, provider_config in config.providers.items():
        provider = load(provider_config.kind)
        upstream = Upstream(name, provider_config, local=provider.local_upstream)
        routes[name] = Route(name, provider, upstream, provider_config)
    return routes


class Worker:
    """Subscriptions and running jobs of one worker process."""

    def __init__(self, nc: Client, service: JobService, routes: dict[str, Route], max_jobs: int, log: Logger,
                 metrics: WorkerMetrics | None = None) -> None:
        self._metrics = metrics or WorkerMetrics()
        self._nc = nc
        self._service = service
        self._routes = routes
        self._log = log
        self._slots = asyncio.Semaphore(max_jobs)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._job_subs: list[Subscription] = []

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
        task = asyncio.create_task(self._run(job, msg.reply, msg.headers))
        self._running[job.request_id] = task
        task.add_done_callback(partial(_forget, self._running, job.request_id))

    async def _run(self, job, reply: str, headers: dict[str, str] | None = None) -> None:  # type: ignore[no-untyped-def]
        in_flight = self._metrics.in_flight.labels(job.provider)
        in_flight.inc()
        route = self._routes.get(job.provider)
        kind = route.config.kind if route is not None else job.provider
        try:
            async with self._slots:
                try:
                    with tracing.job(job.op, job.model, job.upstream_model, kind, job.request_id, headers):
                        await self._service.run(job, reply)
                except asyncio.CancelledError:
                    self._log.info("job_cancelled", request_id=job.request_id)
        finally:
            in_flight.dec()

    @property
    def in_flight(self) -> int:
        """Jobs running now."""
        return len(self._running)

    async def _on_ping(self, msg: Msg) -> None:
        if msg.reply:
            await self._nc.publish(msg.reply, b"pong")

    async def _on_cancel(self, msg: Msg) -> None:
        try:
            request_id = CANCEL_DECODER.decode(msg.data).request_id
        except msgspec.DecodeError:
            return
        task = self._running.get(request_id)
        if task is not None:
            task.cancel()

    async def stop(self, grace_s: float) -> None:
        """Stop taking jobs and wait for running ones."""
        for sub in self._job_subs:
            await sub.unsubscribe()
        running = list(self._running.values())
        if running:
            _, pending = await asyncio.wait(running, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


def _forget(running: dict[str, asyncio.Task[None]], request_id: str, _task: asyncio.Task[None]) -> None:
    running.pop(request_id, None)


async def main() -> None:
    """Run one worker process until SIGTERM/SIGINT."""
    config = configuration.load()
    routes = build_routes(config)
    redactor = provider_redactor(routes)
    log = Logger("worker", redactor=redactor)
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
        await natsbus.ensure_usage_stream(nc.jetstream())
        usage = UsagePublisher(nc.jetstream(), log)
        usage.start()
        metrics = WorkerMetrics()
        serve(METRICS_PORT_ENV, metrics.registry, log)
        service = JobService(nc, routes, usage.record, log, heartbeat_s=config.workers.heartbeat_s,
                             redactor=redactor, metrics=metrics)
        worker = Worker(nc, service, routes, config.workers.max_concurrent_jobs, log, metrics)
        await worker.start()
        identity = Identity("worker")
        await answer_status(nc, "worker", lambda: identity.status(in_flight=worker.in_flight,
                                                                   providers=sorted(routes)), log)
        log.info("worker_ready", providers=sorted(routes))
        await stop.wait()
        log.info("worker_stopping")
        await worker.stop(SHUTDOWN_GRACE_S)
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
