"""The rate limiter's slices of shared counters, against an in-memory counter store."""

from __future__ import annotations

import asyncio
import io
from collections import defaultdict
from typing import Any

import pytest

from gateway.contracts.bus import KeyRecord
from gateway.contracts.errors import APIError
from gateway.contracts.log import Logger
from gateway.limits import INCR_HEADER, RateLimiter


class Counters:
    """What the LIMITS stream does: atomic increments returning the new total."""

    def __init__(self) -> None:
        self.values: dict[str, int] = defaultdict(int)
        self.round_trips = 0

    def incr(self, subject: str, delta: str) -> int:
        self.values[subject] += int(delta)
        return self.values[subject]


class _Msg:
    def __init__(self, data: bytes) -> None:
        self.data = data


class _NC:
    def __init__(self, counters: Counters) -> None:
        self._counters = counters

    async def request(self, subject: str, payload: bytes, timeout: float, headers: dict[str, str]) -> _Msg:
        self._counters.round_trips += 1
        return _Msg(b'{"val":"%d"}' % self._counters.incr(subject, headers[INCR_HEADER]))

    def jetstream(self) -> Any:
        counters = self._counters

        class JS:
            async def get_last_msg(self, stream: str, subject: str, direct: bool) -> _Msg:
                return _Msg(b'{"val":"%d"}' % counters.values.get(subject, 0))

        return JS()


class FakeBridge:
    """Runs the limiter's coroutines against the shared counters, publishes at once."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters

    def run(self, work: Any, timeout: float) -> Any:
        return asyncio.run(work(_NC(self._counters)))

    def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        self._counters.incr(subject, headers[INCR_HEADER])


def limiter(counters: Counters, now: float = 6_000_000.0) -> RateLimiter:
    return RateLimiter(FakeBridge(counters), Logger("t", io.StringIO()), clock=lambda: now)  # type: ignore[arg-type]


def key(**limits: int) -> KeyRecord:
    return KeyRecord(id="k1", name="k", hash="h", **limits)


def attempt(gate: RateLimiter, record: KeyRecord, tokens: int = 10) -> bool:
    try:
        gate.admit(record, tokens)
        return True
    except APIError as ex:
        assert ex.status == 429 and ex.error.code == "rate_limit_exceeded" and ex.retry_after
        return False


def test_two_processes_share_one_rpm_limit() -> None:
    counters = Counters()
    gates = [limiter(counters), limiter(counters)]
    record = key(rpm=60)
    admitted = sum(attempt(gates[i % 2], record) for i in range(120))
    assert 56 <= admitted <= 60  # at most one unused slice (3) per process is lost
    assert counters.values["limits.rpm.k1.100000"] <= 60


def test_most_requests_make_no_round_trip() -> None:
    counters = Counters()
    gate = limiter(counters)
    record = key(rpm=1000)
    assert all(attempt(gate, record) for _ in range(100))
    assert counters.round_trips == 2  # slices of 50


def test_a_refused_request_takes_nothing() -> None:
    counters = Counters()
    gate = limiter(counters)
    record = key(rpm=100, tpm=50)
    assert not attempt(gate, record, tokens=80)
    assert counters.values["limits.tpm.k1.100000"] == 0
    assert attempt(gate, record, tokens=20)


def test_the_previous_window_weighs_in_as_it_slides_out() -> None:
    counters = Counters()
    counters.values["limits.rpm.k1.99999"] = 60  # a full previous minute
    early = limiter(counters, now=6_000_000.0 + 6)  # 10 % into the new minute: 54 still count
    assert sum(attempt(early, key(rpm=60)) for _ in range(20)) == 6


def test_headers_report_what_is_left() -> None:
    counters = Counters()
    admission = limiter(counters).admit(key(rpm=1000), 10)
    assert admission is not None
    assert admission.headers()["x-ratelimit-remaining-requests"] == "999"


@pytest.mark.parametrize("limits", [{}, {"rpm": None}])
def test_keys_without_limits_pay_nothing(limits: dict[str, Any]) -> None:
    counters = Counters()
    assert limiter(counters).admit(key(**limits), 10) is None
    assert counters.round_trips == 0


def test_settling_tpm_goes_through_the_slice_before_the_shared_counter() -> None:
    counters = Counters()
    gate = limiter(counters)
    record = key(tpm=100_000)  # slices of 5000 tokens
    admission = gate.admit(record, 400)
    taken = counters.values["limits.tpm.k1.100000"]
    gate.settle(admission, 100)  # 300 fewer than estimated: back into the slice
    gate.settle(gate.admit(record, 100), 1000)  # 900 more: out of the slice
    assert counters.values["limits.tpm.k1.100000"] == taken  # no counter traffic
    assert gate.admit(record, 1).headers()["x-ratelimit-remaining-tokens"] == str(100_000 - 1101)
