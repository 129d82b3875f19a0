"""Per-key RPM/TPM limits that hold across every gateway process and host.

The shared counters are NATS JetStream counters (a stream with `allow_msg_counter`):
one subject per key, kind and minute window; an increment is atomic on the server and
returns the new total, so N processes admitting at once still count every request
exactly once. The rate is a sliding-window estimate, `current + previous x (1 -
elapsed fraction)`, so a burst cannot double up at a minute boundary. A previous
window's total never changes once it ended, so each process reads it once and caches it.

Each process takes slices of a limit (LEASE_FRACTION of it) from the shared counter and
admits locally until a slice is used up, so only about one request in twenty pays the
round trip (one bridge hop, both counters in parallel); keys without limits pay nothing.
A slice that no longer fits shrinks to what the request needs; a refused request gives
its units back. TPM is charged the prompt estimate at admission and settled with the
real usage when the request ends. If the counters cannot be reached the request is
admitted (limits fail open, with a warning in the log).
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
from nats.js.errors import NotFoundError as JsNotFoundError

from gateway.runtime import natsbus
from gateway.bus_client import Bridge
from gateway.contracts.bus import LIMITS_STREAM, KeyRecord, limit_subject
from gateway.contracts.errors import rate_limited
from gateway.contracts.log import Logger

WINDOW_S = 60
INCR_HEADER = "Nats-Incr"
COUNTER_TIMEOUT_S = 2.0
# A process takes this share of a limit from the shared counter at a time and admits
# locally until it is used: most requests then make no round trip, and the units left
# unused at the end of a window (at most a slice per process) are the only error.
LEASE_FRACTION = 0.05


class _CounterValue(msgspec.Struct):
    val: str = "0"


_VALUE = msgspec.json.Decoder(_CounterValue)


async def ensure_limits_stream(nc: Client) -> None:
    """(asyncio) The counter stream (defined in gateway/runtime/natsbus.py)."""
    await natsbus.ensure_limits_stream(nc.jetstream(), WINDOW_S)


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
    tpm_slice: int = 0
    states: list[LimitState] = field(default_factory=list)

    def headers(self) -> dict[str, str]:
        """OpenAI's `x-ratelimit-*` headers."""
        out = {}
        for state in self.states:
            out[f"x-ratelimit-limit-{state.kind}"] = str(state.limit)
            out[f"x-ratelimit-remaining-{state.kind}"] = str(max(0, state.limit - math.ceil(state.used)))
            out[f"x-ratelimit-reset-{state.kind}"] = f"{math.ceil(state.reset_s)}s"
        return out


def _slice(limit: int) -> int:
    """How many units a process takes from a shared counter at once."""
    return max(1, int(limit * LEASE_FRACTION))


@dataclass(slots=True)
class _Lease:
    """Units of one key's counter this process took and has not used yet."""

    window: int
    left: int = 0
    used: float = 0.0  # the sliding estimate of all processes' units when last counted


class RateLimiter:
    """Admits requests of limited keys against the shared counters."""

    def __init__(self, bridge: Bridge, log: Logger, clock: Callable[[], float] = time.time) -> None:
        self._bridge = bridge
        self._log = log
        self._clock = clock
        self._ended: dict[str, int] = {}  # totals of ended windows, by subject
        self._leases: dict[tuple[str, str], _Lease] = {}

    def admit(self, key: KeyRecord, estimated_tokens: int) -> Admission | None:
        """Count this request; 429 rate_limit_exceeded (with headers) when over a limit."""
        limits = {kind: limit for kind, limit in (("rpm", key.rpm), ("tpm", key.tpm)) if limit}
        if not limits:
            return None
        now = self._clock()
        window = int(now // WINDOW_S)
        elapsed = (now % WINDOW_S) / WINDOW_S
        charges = {kind: 1 if kind == "rpm" else max(1, estimated_tokens) for kind in limits}
        leases = {kind: self._lease(key.id, kind, window) for kind in limits}
        # Units this process already holds are taken at once (no yield before this point).
        local = {kind for kind, amount in charges.items() if leases[kind].left >= amount}
        for kind in local:
            leases[kind].left -= charges[kind]
        fetch = {kind: max(charges[kind], _slice(limits[kind])) for kind in limits if kind not in local}
        refused: str | None = None
        if fetch:
            try:
                counts = self._bridge.run(lambda nc: self._count(nc, key.id, window, fetch), COUNTER_TIMEOUT_S)
            except (ConnectionError, TimeoutError, nats.errors.Error, asyncio.TimeoutError) as ex:
                self._log.warning("limits_unavailable", key_id=key.id, error=type(ex).__name__)
                return None  # NOTE: limits fail open; the request was still admitted
            for kind, grant in fetch.items():
                current, previous = counts[kind]
                used = current + previous * (1 - elapsed)
                amount = charges[kind]
                if used > limits[kind] and grant > amount:
                    # the slice does not fit: keep only what this request needs
                    self._incr_later(limit_subject(kind, key.id, window), amount - grant)
                    used -= grant - amount
                    fetch[kind] = grant = amount
                leases[kind].used = used
                if used > limits[kind]:
                    refused = refused or kind
                else:
                    leases[kind].left += grant - amount
        admission = Admission(key.id, window, charges.get("tpm", 0), "tpm" in charges, _slice(key.tpm or 0))
        for kind, name in (("rpm", "requests"), ("tpm", "tokens")):
            if kind in limits:
                used_now = leases[kind].used - leases[kind].left
                admission.states.append(LimitState(name, limits[kind], used_now, (1 - elapsed) * WINDOW_S))
        if refused is not None:
            self._undo(key.id, window, charges, local, fetch, leases, refused)
            name = "requests" if refused == "rpm" else "tokens"
            reset = (1 - elapsed) * WINDOW_S
            error = rate_limited(
                f"Rate limit reached for {name} per minute: limit {limits[refused]}. "
                f"Retry after {math.ceil(reset)}s.",
                str(max(1, math.ceil(reset))),
            )
            error.headers = admission.headers()
            raise error
        return admission

    def _lease(self, key_id: str, kind: str, window: int) -> _Lease:
        """This process's unused units of one counter in the current window."""
        lease = self._leases.get((key_id, kind))
        if lease is None or lease.window != window:
            if len(self._leases) > 100_000:
                self._leases.clear()  # NOTE: bounded; a dropped lease only wastes its units
            lease = self._leases[(key_id, kind)] = _Lease(window)
        return lease

    def _undo(self, key_id: str, window: int, charges: dict[str, int], local: set[str],
              fetch: dict[str, int], leases: dict[str, _Lease], refused: str) -> None:
        """A refused request takes nothing: local units go back to the lease, the refused
        counter gets its increment back; a granted slice of another counter stays leased."""
        for kind, amount in charges.items():
            if kind in local or (kind in fetch and kind != refused):
                leases[kind].left += amount
            elif kind == refused:
                self._incr_later(limit_subject(kind, key_id, window), -fetch[kind])

    def settle(self, admission: Admission | None, total_tokens: int | None) -> None:
        """Correct the TPM count from the estimate to the real usage.

        PERF: the correction goes through this process's slice when it can (tokens not
        spent return to it, extra tokens come out of it); only what the slice cannot
        absorb, or a slice grown past twice its size, goes back to the shared counter.
        """
        if admission is None or not admission.tpm or total_tokens is None:
            return
        delta = total_tokens - admission.tokens_charged
        lease = self._leases.get((admission.key_id, "tpm"))
        if lease is not None and lease.window == admission.window and lease.left >= delta:
            lease.left -= delta
            surplus = lease.left - 2 * admission.tpm_slice
            if surplus > 0:
                lease.left -= surplus
                delta = -surplus
            else:
                delta = 0
        if delta:
            self._incr_later(limit_subject("tpm", admission.key_id, admission.window), delta)

    def _incr_later(self, subject: str, delta: int) -> None:
        self._bridge.publish(subject, b"", {INCR_HEADER: f"{delta:+d}"})

    async def _count(self, nc: Client, key_id: str, window: int, charges: dict[str, int]) -> dict[str, tuple[int, int]]:
        """(asyncio) Increment the current windows and read the previous ones, in parallel."""
        kinds = list(charges)
        current = [nc.request(limit_subject(k, key_id, window), b"", timeout=COUNTER_TIMEOUT_S,
                              headers={INCR_HEADER: f"+{charges[k]}"}) for k in kinds]
        previous = [self._ended_total(nc, limit_subject(k, key_id, window - 1)) for k in kinds]
        replies, ended = await asyncio.gather(asyncio.gather(*current), asyncio.gather(*previous))
        return {
            kind: (int(_VALUE.decode(reply.data).val), total)
            for kind, reply, total in zip(kinds, replies, ended, strict=True)
        }

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
