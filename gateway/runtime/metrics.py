"""Prometheus metrics of every process kind: one home for names, labels and buckets.

Each process kind has one class that makes its collectors in a registry of its own (so
tests can build several apps in one process). The gateway runs several gunicorn processes:
with `PROMETHEUS_MULTIPROC_DIR` set (gateway/gunicorn_conf.py sets and cleans it) every
process writes its values to files there and `GET /metrics` on any of them sums them all.
Workers and the ledger serve their registry on a small HTTP listener of their own, on the
port their environment names (`WORKER_METRICS_PORT`, `LEDGER_METRICS_PORT`; off when unset).

SECURITY: no label ever holds a key's secret or hash. Key *names* appear (label `key`) only
when the operator opts in with `[metrics] key_names = true`: one series per key and model
can be many series.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

from gateway.contracts.environment import environment
from gateway.contracts.log import Logger

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class GatewayMetrics:
    """What a gateway process counts (see the README's metrics table)."""

    def __init__(self, key_names: bool = False, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.key_names = key_names
        keyed = ["key"] if key_names else []
        r = self.registry
        self.requests = Counter("gateway_requests", "HTTP requests answered, by route, model, provider and status.",
                                ["route", "model", "provider", "status", *keyed], registry=r)
        self.latency = Histogram("gateway_request_duration_seconds",
                                 "Time from request to the last byte (streams: to the stream's end).",
                                 ["route", "model", "provider"], buckets=LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("gateway_time_to_first_token_seconds",
                              "Streams: time from request to the first chunk.",
                              ["model", "provider"], buckets=LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("gateway_tokens", "Tokens of answered requests as the workers reported them.",
                              ["model", "direction", *keyed], registry=r)
        self.fallbacks = Counter("gateway_fallbacks", "Requests moved to a fallback model before the first byte.",
                                 ["model"], registry=r)
        self.refusals = Counter("gateway_admission_refusals", "Requests refused at admission, by reason (code).",
                                ["reason"], registry=r)
        self.in_flight = Gauge("gateway_requests_in_flight", "Requests being answered now.", registry=r,
                               multiprocess_mode="livesum")
        self.open_streams = Gauge("gateway_open_streams", "SSE streams open now.", registry=r,
                                  multiprocess_mode="livesum")
        self.active = 0  # this process's requests in flight (for its status answer)
        self.streams = 0  # this process's open streams

    def started(self) -> None:
        """A request came in."""
        self.active += 1
        self.in_flight.inc()

    def stream_opened(self) -> None:
        """A response became a stream."""
        self.streams += 1
        self.open_streams.inc()

    def stream_closed(self) -> None:
        """A stream ended."""
        self.streams -= 1
        self.open_streams.dec()

    def render(self) -> bytes:
        """The Prometheus text of this process, or of all gateway processes in multiprocess mode."""
        if environment().multiproc_dir:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


class WorkerMetrics:
    """What a worker process counts."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.jobs = Counter("worker_jobs", "Jobs finished, by provider, operation and outcome.",
                            ["provider", "op", "status"], registry=r)
        self.duration = Histogram("worker_job_duration_seconds", "Time a job took, upstream call included.",
                                  ["provider", "op"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("worker_jobs_in_flight", "Jobs running now.", ["provider"], registry=r)
        self.upstream_errors = Counter("worker_upstream_errors",
                                       "Upstream failures: its HTTP status, or the code of a failure without one.",
                                       ["provider", "status"], registry=r)


class LedgerMetrics:
    """What the ledger counts: what it billed, and how far behind it is."""

    def __init__(self, key_names: bool = False, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.key_names = key_names
        keyed = ["key"] if key_names else []
        r = self.registry
        self.events = Counter("ledger_events", "Stream messages handled, by outcome.", ["outcome"], registry=r)
        self.tokens = Counter("ledger_tokens", "Billed tokens by model (direction: input, output, cached).",
                              ["model", "direction", *keyed], registry=r)
        self.cost = Counter("ledger_cost_usd", "Billed cost in USD by model.", ["model", *keyed], registry=r)
        self.pending = Gauge("ledger_pending_events", "Events in the USAGE stream the ledger has not taken yet.",
                             registry=r)
        self.last_commit = Gauge("ledger_last_commit_timestamp_seconds", "Unix time of the last committed batch.",
                                 registry=r)
        self._committed_at: float | None = None
        age = Gauge("ledger_last_commit_age_seconds", "Seconds since the last committed batch (-1: none yet).",
                    registry=r)
        age.set_function(self._age)

    def _age(self) -> float:
        return -1.0 if self._committed_at is None else time.time() - self._committed_at

    def committed(self, at: float) -> None:
        """A batch was committed at `at` (unix time)."""
        self._committed_at = at
        self.last_commit.set(at)


def serve(env: str, registry: CollectorRegistry, log: Logger) -> int | None:
    """Serve `registry` over HTTP on the port named by the env var `env` (none: off).

    Binds `METRICS_HOST` (default 127.0.0.1). A port in use is logged, never fatal: metrics
    must not stop a worker from serving.
    """
    settings = environment()
    port = settings.get(env)
    if not port:
        return None
    host = settings.metrics_host
    try:
        server, _thread = start_http_server(int(port), addr=host, registry=registry)
    except (OSError, ValueError) as ex:
        log.warning("metrics_listener_failed", env=env, port=port, error=f"{type(ex).__name__}: {ex}")
        return None
    bound = int(server.server_address[1])
    log.info("metrics_listening", host=host, port=bound)
    return bound
