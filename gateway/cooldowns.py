"""Which deployments may get traffic: cooldowns shared by every gateway process (issue 16).

A deployment (a provider account and an upstream model) cools down when it answers 429
with `retry-after` (for that long, at most `max_cooldown_s`) or fails
`cooldown_failures` times within `cooldown_window_s` in one process (for `cooldown_s`).
The process that sees it writes a `CooldownRecord` into the NATS KV bucket `cooldowns`
(gateway/runtime/natsbus.py); every gateway process follows the bucket, so all of them stop
sending it traffic at once. Gateways write it because they see every attempt's outcome
in the frames, no-worker and silent-worker failures included, which no worker sees.

When a cooldown ends, the deployment is on probation in each process: it gets at most
one request per `probe_interval_s` (a trickle) until one succeeds; a failure then cools
it again at once.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client

from gateway.runtime import natsbus
from gateway.runtime.kvmirror import KVMirror
from gateway.contracts.bus import COOLDOWN_DECODER, COOLDOWNS_BUCKET, CooldownRecord, cooldown_key
from gateway.contracts.config import RoutingSettings
from gateway.contracts.log import Logger

Publish = Callable[[str, bytes], None]
_ENCODER = msgspec.json.Encoder()


@dataclass(slots=True)
class _State:
    until: float = 0.0  # unix time; no traffic before it
    probing: bool = False  # cooled before: trickle until one success
    last_probe: float = 0.0
    failures: deque[float] = field(default_factory=deque)


class Cooldowns:
    """The cooldown table of one gateway process, fed by its own failures and the bucket."""

    def __init__(self, settings: RoutingSettings, publish: Publish, log: Logger,
                 clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._publish = publish
        self._log = log
        self._clock = clock
        self._states: dict[str, _State] = {}
        self._mirror = KVMirror(COOLDOWNS_BUCKET, self._apply, log)

    # ------------------------------------------------------------------ loop side

    async def watch(self, nc: Client) -> None:
        """(asyncio) Load the current cooldowns, then follow the bucket in the background."""
        await self._mirror.start(await natsbus.cooldowns_bucket(nc.jetstream()))

    def _apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            return  # a deleted entry: cooldowns end by time, not by deletion
        try:
            record = COOLDOWN_DECODER.decode(value)
        except msgspec.DecodeError:
            self._log.error("bad_cooldown_record", key=key)
            return
        if record.until <= self._clock():
            return  # an old entry: the cooldown is over
        state = self._states.setdefault(key, _State())
        if record.until > state.until:
            state.until = record.until
            state.probing = True
            state.failures.clear()
            self._log.info("cooldown_seen", provider=record.provider, upstream_model=record.upstream_model,
                           reason=record.reason, seconds=round(record.until - self._clock(), 3))

    # ------------------------------------------------------------------ request side

    def available(self, key: str) -> bool:
        """Whether a request may go to this deployment now (not cooling; probe due)."""
        state = self._states.get(key)
        if state is None:
            return True
        now = self._clock()
        if now < state.until:
            return False
        return not state.probing or now - state.last_probe >= self._settings.probe_interval_s

    def seconds_left(self, key: str) -> float:
        """How long this deployment still cools (0 if it is not cooling)."""
        state = self._states.get(key)
        return max(0.0, state.until - self._clock()) if state is not None else 0.0

    def picked(self, key: str) -> None:
        """A request goes to this deployment: on probation, that is this interval's probe."""
        state = self._states.get(key)
        if state is not None and state.probing:
            state.last_probe = self._clock()

    def succeeded(self, key: str) -> None:
        """It answered: healthy again (in this process)."""
        state = self._states.get(key)
        if state is not None and state.probing and self._clock() >= state.until:
            del self._states[key]

    def failed(self, provider: str, upstream_model: str, status: int, retry_after: float | None) -> bool:
        """Count one failure; True when it cooled the deployment (and told every gateway)."""
        key = cooldown_key(provider, upstream_model)
        now = self._clock()
        state = self._states.setdefault(key, _State())
        settings = self._settings
        if retry_after is not None and status == 429:
            seconds, reason = min(retry_after, settings.max_cooldown_s), "rate_limited"
        else:
            window = state.failures
            window.append(now)
            while window and now - window[0] > settings.cooldown_window_s:
                window.popleft()
            if not state.probing and len(window) < settings.cooldown_failures:
                return False
            seconds, reason = settings.cooldown_s, "failing"
        if seconds <= 0:
            return False
        record = CooldownRecord(provider=provider, upstream_model=upstream_model, until=now + seconds,
                                reason=reason, status=status, at=now)
        state.until, state.probing = max(state.until, record.until), True
        state.failures.clear()
        self._publish(f"$KV.{COOLDOWNS_BUCKET}.{key}", _ENCODER.encode(record))
        self._log.warning("deployment_cooldown", provider=provider, upstream_model=upstream_model,
                          reason=reason, status=status, seconds=round(seconds, 3))
        return True


def parse_retry_after(value: str | None) -> float | None:
    """`retry-after` in seconds (the delta form; an HTTP date is not honoured: None)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
