"""What this worker is doing, per deployment, reported to the gateways (issue 16).

Gateways pick a deployment by the fewest jobs in flight (`least_busy`) or the lowest
recent time to first output (`latency`). Only workers see both: a job is in flight from
the moment a worker takes it until it ends, and its first output leaves through this
worker. Every `[routing] load_report_s` the worker publishes one `LoadReport` per provider
it has served on `llm.load.<provider>` (gateway/runtime/natsbus.py lets workers publish there and
gateways subscribe).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Callable

import nats
from nats.aio.client import Client

from gateway.contracts.bus import EVENT_ENCODER, DeploymentLoad, Job, LoadReport, load_subject
from gateway.contracts.log import Logger

EWMA_WEIGHT = 0.3  # of the newest sample: recent enough to follow a slowdown within seconds

Deployment = tuple[str, str]  # provider, upstream model


class LoadTracker:
    """In-flight counts and a moving average of time to first output, per deployment."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._in_flight: dict[Deployment, int] = {}
        self._latency_ms: dict[Deployment, float] = {}
        self.worker = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"

    def begin(self, job: Job) -> Callable[[], None]:
        """A job starts; returns what to call when its first output leaves."""
        key = (job.provider, job.upstream_model)
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        started = self._clock()

        def first_output() -> None:
            sample = (self._clock() - started) * 1000.0
            previous = self._latency_ms.get(key)
            self._latency_ms[key] = sample if previous is None else previous + EWMA_WEIGHT * (sample - previous)

        return first_output

    def end(self, job: Job) -> None:
        """A job ended, however."""
        key = (job.provider, job.upstream_model)
        self._in_flight[key] = max(0, self._in_flight.get(key, 0) - 1)

    def reports(self) -> list[LoadReport]:
        """One report per provider this worker has served."""
        by_provider: dict[str, list[DeploymentLoad]] = {}
        for (provider, upstream), count in self._in_flight.items():
            by_provider.setdefault(provider, []).append(DeploymentLoad(
                upstream_model=upstream, in_flight=count, latency_ms=self._latency_ms.get((provider, upstream))))
        now = time.time()
        return [LoadReport(worker=self.worker, provider=p, deployments=d, at=now) for p, d in by_provider.items()]


async def report_load(nc: Client, tracker: LoadTracker, interval_s: float, log: Logger) -> None:
    """(task) Publish the tracker's reports every `interval_s` until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        for report in tracker.reports():
            try:
                await nc.publish(load_subject(report.provider), EVENT_ENCODER.encode(report))
            except nats.errors.Error as ex:
                log.warning("load_report_failed", error=type(ex).__name__)
