"""Per-key RPM/TPM limits that hold across every gateway process and host.

The shared counters are NATS JetStream counters (a stream with `allow_msg_counter`):
one subject per key, kind and minute window; an increment is atomic on the server and
returns the new total, so N processes admitting at once still count every request
exactly once. The rate is a sliding-window estimate, `current + previous x (1 -
elapsed fraction)`, so a burst cannot double up at a minute boundary. A previous
window's total never changes once it ended, so each process reads it once and caches it.

Only keys with limits pay the round trip (one bridge hop, both counters in parallel).
A refused request gives its increments back. TPM is charged the prompt estimate at
admission and settled with the real usage when the request ends. If the counters cannot
be reached the request is admitted (limits fail open; the access log says so).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError
from nats.js.errors import NotFoundError as JsNotFoundError

from gateway.bus_client import Bridge
from gateway.contracts.bus import LIMITS_STREAM, LIMITS_SUBJECTS, KeyRecord, limit_subject
from gateway.contracts.errors import rate_limited
from gateway.contracts.log import Logger

WINDOW_S = 60
INCR_HEADER = "Nats-Incr"
COUNTER_TIMEOUT_S = 2.0


class _CounterValue(msgspec.Struct):
    val: str = "0"


_VALUE = msgspec.json.Decoder(_CounterValue)


async def ensure_limits_stream(nc: Client) -> None:
    """(asyncio) The counter stream; windows older than two minutes are dropped."""
    js = nc.jetstream()
    try:
        await js.add_stream(
            StreamConfig(
                name=LIMITS_STREAM,
                subjects=LIMITS_SUBJECTS,
                storage=StorageType.MEMORY,
                allow_msg_counter=True,
                allow_direct=True,
                max_age=3 * WINDOW_S,
            )
        )
    except BadRequestError:
        await js.stream_info(LIMITS_STREAM)


@dataclass(slots=True)
class LimitState:
    """One limit's state for one request."""

    kind: str  # "requests" | "tokens"
    limit: int
    used: float
    reset_s: float


@dataclass(slots=True)
class Admission:
    """What an admitted request took from its key's counters."""

    key_id: str
    window: int
    tokens_charged: int
    tpm: bool
    states: list[LimitState] = field(default_factory=list)

    def headers(self) -> dict[str, str]:
        """OpenAI's `x-ratelimit-*` headers."""
        out = {}
        for state in self.states:
            out[f"x-ratelimit-limit-{state.kind}"] = str(state.limit)
            out[f"x-ratelimit-remaining-{state.kind}"] = str(max(0, state.limit - math.ceil(state.used)))
            out[f"x-ratelimit-reset-{state.kind}"] = f"{math.ceil(state.reset_s)}s"
        return out


class RateLimiter:
    """Admits requests of limited keys against the shared counters."""

    def __init__(self, bridge: Bridge, log: Logger, clock: Callable[[], float] = time.time) -> None:
        self._bridge = bridge
        self._log = log
        self._clock = clock
        self._ended: dict[str, int] = {}  # totals of ended windows, by subject

    def admit(self, key: KeyRecord, estimated_tokens: int) -> Admission | None:
        """Count this request; 429 rate_limit_exceeded (with headers) when over a limit."""
        if not key.rpm and not key.tpm:
            return None
        now = self._clock()
        window = int(now // WINDOW_S)
        elapsed = (now % WINDOW_S) / WINDOW_S
        charges = {}
        if key.rpm:
            charges["rpm"] = 1
        if key.tpm:
            charges["tpm"] = max(1, estimated_tokens)
        try:
            counts = self._bridge.run(lambda nc: self._count(nc, key.id, window, charges), COUNTER_TIMEOUT_S)
        except (ConnectionError, TimeoutError, nats.errors.Error, asyncio.TimeoutError) as ex:
            self._log.warning("limits_unavailable", key_id=key.id, error=type(ex).__name__)
            return None
        admission = Admission(key.id, window, charges.get("tpm", 0), "tpm" in charges)
        refused = None
        for kind, limit, name in (("rpm", key.rpm, "requests"), ("tpm", key.tpm, "tokens")):
            if kind not in counts or not limit:
                continue
            current, previous = counts[kind]
            used = current + previous * (1 - elapsed)
            reset = (1 - elapsed) * WINDOW_S
            admission.states.append(LimitState(name, limit, used, reset))
            if used > limit and refused is None:
                refused = (name, limit, reset)
        if refused is not None:
            self._give_back(key.id, window, charges)
            name, limit, reset = refused
            error = rate_limited(
                f"Rate limit reached for {name} per minute: limit {limit}. Retry after {math.ceil(reset)}s.",
                str(max(1, math.ceil(reset))),
            )
            error.headers = admission.headers()
            raise error
        return admission

    def settle(self, admission: Admission | None, total_tokens: int | None) -> None:
        """Correct the TPM counter from the estimate to the real usage."""
        if admission is None or not admission.tpm or total_tokens is None:
            return
        delta = total_tokens - admission.tokens_charged
        if delta:
            self._incr_later(limit_subject("tpm", admission.key_id, admission.window), delta)

    def _give_back(self, key_id: str, window: int, charges: dict[str, int]) -> None:
        for kind, amount in charges.items():
            self._incr_later(limit_subject(kind, key_id, window), -amount)

    def _incr_later(self, subject: str, delta: int) -> None:
        self._bridge.publish(subject, b"", {INCR_HEADER: f"{delta:+d}"})

    async def _count(self, nc: Client, key_id: str, window: int, charges: dict[str, int]) -> dict[str, tuple[int, int]]:
        """(asyncio) Increment the current windows and read the previous ones, in parallel."""
        kinds = list(charges)
        current = [nc.request(limit_subject(k, key_id, window), b"", timeout=COUNTER_TIMEOUT_S,
                              headers={INCR_HEADER: f"+{charges[k]}"}) for k in kinds]
        previous = [self._ended_total(nc, limit_subject(k, key_id, window - 1)) for k in kinds]
        results = await asyncio.gather(*current, *previous)
        counts = {}
        for i, kind in enumerate(kinds):
            reply = _VALUE.decode(results[i].data)
            counts[kind] = (int(reply.val), int(results[len(kinds) + i]))
        return counts

    async def _ended_total(self, nc: Client, subject: str) -> int:
        cached = self._ended.get(subject)
        if cached is not None:
            return cached
        try:
            msg = await nc.jetstream().get_last_msg(LIMITS_STREAM, subject, direct=True)
            total = int(_VALUE.decode(msg.data or b"{}").val)
        except (JsNotFoundError, nats.errors.Error):
            total = 0
        if len(self._ended) > 100_000:
            self._ended.clear()
        self._ended[subject] = total
        return total
