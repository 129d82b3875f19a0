"""Picking one of a model's deployments: by weight, least busy, or lowest latency (issue 16).

`weighted` draws by the configured weights. `least_busy` and `latency` read what the
workers report every `[routing] load_report_s` on `llm.load.<provider>` (in-flight jobs
and a recent time to first output, per upstream model), summed over the workers whose
report is fresh. Reports lag by up to one interval, so this process's own requests are
counted as they are now, exactly, and the report stands for the other processes' only:
reported - (ours at the time of the report) + ours now. A burst therefore does not all
land on the deployment that looked idle a moment ago, and a fast deployment's finished
requests do not count against it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

from gateway.contracts.bus import LOAD_DECODER, LOAD_PREFIX, DeploymentLoad, LoadReport
from gateway.contracts.config import Deployment
from gateway.contracts.log import Logger

STALE_REPORTS = 3  # a worker's report counts for this many intervals


@dataclass(slots=True)
class _Seen:
    report: LoadReport
    at: float


@dataclass(slots=True)
class _Provider:
    workers: dict[str, _Seen] = field(default_factory=dict)
    ours: dict[str, int] = field(default_factory=dict)  # upstream model -> this process's in flight
    ours_at_report: dict[str, int] = field(default_factory=dict)  # the same, when the last report came


class LoadBoard:
    """The workers' load reports as this gateway process last heard them."""

    def __init__(self, report_interval_s: float, log: Logger, clock: Callable[[], float] = time.monotonic) -> None:
        self._stale_s = report_interval_s * STALE_REPORTS
        self._log = log
        self._clock = clock
        self._providers: dict[str, _Provider] = {}

    async def watch(self, nc: Client) -> None:
        """(asyncio) Follow every worker's reports."""
        await nc.subscribe(f"{LOAD_PREFIX}*", cb=self._on_report)

    async def _on_report(self, msg: Msg) -> None:
        try:
            report = LOAD_DECODER.decode(msg.data)
        except msgspec.DecodeError:
            self._log.error("bad_load_report", subject=msg.subject)
            return
        self.apply(report)

    def apply(self, report: LoadReport) -> None:
        """Take one report (replacing the same worker's previous one)."""
        provider = self._providers.setdefault(report.provider, _Provider())
        provider.workers[report.worker] = _Seen(report, self._clock())
        provider.ours_at_report = dict(provider.ours)

    def picked(self, deployment: Deployment) -> None:
        """This process sends a request there (until `finished`)."""
        provider = self._providers.setdefault(deployment.provider, _Provider())
        provider.ours[deployment.upstream] = provider.ours.get(deployment.upstream, 0) + 1

    def finished(self, deployment: Deployment) -> None:
        """That request ended (answered, failed or cut)."""
        provider = self._providers.get(deployment.provider)
        if provider is not None:
            provider.ours[deployment.upstream] = max(0, provider.ours.get(deployment.upstream, 0) - 1)

    def in_flight(self, deployment: Deployment) -> int:
        """Jobs in flight there: the other processes' as last reported, and ours now."""
        provider = self._providers.get(deployment.provider)
        if provider is None:
            return 0
        upstream = deployment.upstream
        reported = sum(load.in_flight for load in self._fresh(provider, upstream))
        others = max(0, reported - provider.ours_at_report.get(upstream, 0)) if reported else 0
        return others + provider.ours.get(upstream, 0)

    def latency_ms(self, deployment: Deployment) -> float | None:
        """The workers' recent time to first output there (mean of fresh reports), or None."""
        provider = self._providers.get(deployment.provider)
        if provider is None:
            return None
        samples = [load.latency_ms for load in self._fresh(provider, deployment.upstream)
                   if load.latency_ms is not None]
        return sum(samples) / len(samples) if samples else None

    def _fresh(self, provider: _Provider, upstream: str) -> list[DeploymentLoad]:
        now = self._clock()
        out: list[DeploymentLoad] = []
        for seen in list(provider.workers.values()):
            if now - seen.at > self._stale_s:
                continue
            out.extend(d for d in seen.report.deployments if d.upstream_model == upstream)
        return out


def pick(strategy: str, candidates: Sequence[Deployment], board: LoadBoard,
         rng: random.Random | None = None) -> Deployment:
    """One of `candidates` (not empty) by the model's `routing` strategy."""
    draw = rng or random
    if len(candidates) == 1:
        return candidates[0]
    if strategy == "least_busy":
        loads = [board.in_flight(d) for d in candidates]
        fewest = min(loads)
        return draw.choice([d for d, n in zip(candidates, loads, strict=True) if n == fewest])
    if strategy == "latency":
        # NOTE: a deployment with no sample yet counts as fastest, so it gets one and is measured.
        latencies = [board.latency_ms(d) or 0.0 for d in candidates]
        best = min(latencies)
        return draw.choice([d for d, ms in zip(candidates, latencies, strict=True) if ms <= best * 1.1])
    return draw.choices(list(candidates), weights=[d.weight for d in candidates])[0]
