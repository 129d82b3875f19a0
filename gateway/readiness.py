"""Readiness of one gateway process: NATS connected, keys loaded, a worker for every provider.

Probed cheaply (one ping per configured provider, all at once, answered by any one worker
of the provider's queue group) and cached for `ttl_s`, so a load balancer polling every
gateway process many times a second costs the bus at most one round of pings a second.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import msgspec
import nats
from nats.aio.client import Client

from gateway.bus_client import Bridge
from gateway.contracts.bus import missing_secret, ping_subject
from gateway.keycache import KeyCache

READY_TTL_S = 1.0
PING_TIMEOUT_S = 0.25


class ReadinessReport(msgspec.Struct, kw_only=True):
    """The body of `GET /readyz`: each check, and in `not_ready` what failed, in words."""

    status: str  # "ready" | "not_ready"
    nats: bool
    keys: bool
    providers: dict[str, bool]  # provider -> a worker answered its ping
    not_ready: list[str] = []
    # provider -> the variable its worker lacks: its models answer 404 model_unavailable
    unavailable: dict[str, str] = {}


async def ping_providers(nc: Client, providers: list[str], timeout_s: float) -> dict[str, str | None]:
    """(asyncio) provider -> None when no worker answered its ping within `timeout_s`, else
    its answer: "" or the variable the worker lacks for its secret."""

    async def one(provider: str) -> str | None:
        try:
            answer = await nc.request(ping_subject(provider), b"", timeout=timeout_s)
            return missing_secret(answer.data) or ""
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError, asyncio.TimeoutError):
            return None

    answers = await asyncio.gather(*(one(p) for p in providers))
    return dict(zip(providers, answers))


class Readiness:
    """The cached readiness of this process (one probe at a time; others reuse its answer)."""

    def __init__(self, bridge: Bridge, keys: KeyCache, providers: list[str], ttl_s: float = READY_TTL_S,
                 ping_timeout_s: float = PING_TIMEOUT_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._bridge = bridge
        self._keys = keys
        self._providers = sorted(providers)
        self._ttl_s = ttl_s
        self._ping_timeout_s = ping_timeout_s
        self._clock = clock
        # NOTE: under gunicorn's gevent worker threading is patched: this lock parks a greenlet.
        self._lock = threading.Lock()
        self._cached: ReadinessReport | None = None
        self._cached_at = 0.0

    def report(self) -> ReadinessReport:
        """The last report if younger than `ttl_s`, else a fresh probe."""
        with self._lock:
            if self._cached is None or self._clock() - self._cached_at >= self._ttl_s:
                self._cached = self._probe()
                self._cached_at = self._clock()
            return self._cached

    def _probe(self) -> ReadinessReport:
        connected = self._bridge.connected
        loaded = self._keys.loaded
        answering: dict[str, str | None] = {p: None for p in self._providers}
        if connected and self._providers:
            timeout = self._ping_timeout_s
            try:
                answering = self._bridge.run(lambda nc: ping_providers(nc, self._providers, timeout), timeout + 0.5)
            except (ConnectionError, TimeoutError):
                pass
        not_ready = []
        if not connected:
            not_ready.append("nats: not connected")
        if not loaded:
            not_ready.append("keys: not loaded")
        not_ready.extend(f"provider {p}: no worker answering" for p, ok in answering.items() if ok is None)
        unavailable = {p: f"unavailable: its workers lack {v}" for p, v in answering.items() if v}
        return ReadinessReport(status="not_ready" if not_ready else "ready", nats=connected, keys=loaded,
                               providers={p: a is not None for p, a in answering.items()}, not_ready=not_ready,
                               unavailable=unavailable)
