"""Cooldowns: N failures in a window or a 429's retry-after; shared records; the probe trickle."""

from __future__ import annotations

import io

from gateway.contracts.bus import COOLDOWN_DECODER, EVENT_ENCODER, CooldownRecord, cooldown_key
from gateway.contracts.config import RoutingSettings
from gateway.contracts.log import Logger
from gateway.cooldowns import Cooldowns, parse_retry_after

KEY = cooldown_key("acct", "gpt-x")


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def make(**settings: float) -> tuple[Cooldowns, Clock, list[tuple[str, bytes]]]:
    clock = Clock()
    published: list[tuple[str, bytes]] = []
    table = Cooldowns(RoutingSettings(**settings), lambda s, d: published.append((s, d)),  # type: ignore[arg-type]
                      Logger("test", io.StringIO()), clock)
    return table, clock, published


def test_n_failures_within_the_window_cool_it_for_everyone() -> None:
    table, clock, published = make(cooldown_failures=3, cooldown_window_s=10, cooldown_s=20)
    assert not table.failed("acct", "gpt-x", 502, None)
    clock.now += 11  # the first failure leaves the window
    assert not table.failed("acct", "gpt-x", 502, None)
    assert not table.failed("acct", "gpt-x", 504, None)
    assert table.available(KEY)
    assert table.failed("acct", "gpt-x", 502, None)
    assert not table.available(KEY) and table.seconds_left(KEY) == 20
    subject, data = published[-1]
    record = COOLDOWN_DECODER.decode(data)
    assert subject == f"$KV.cooldowns.{KEY}"
    assert (record.provider, record.upstream_model, record.until, record.reason, record.status) == (
        "acct", "gpt-x", clock.now + 20, "failing", 502)


def test_a_429_with_retry_after_cools_it_for_that_long_at_most_the_cap() -> None:
    table, clock, published = make(max_cooldown_s=60)
    assert table.failed("acct", "gpt-x", 429, 30.0)
    assert table.seconds_left(KEY) == 30
    table.failed("acct", "gpt-y", 429, 3600.0)
    assert table.seconds_left(cooldown_key("acct", "gpt-y")) == 60
    assert not table.failed("acct", "gpt-z", 429, None)  # without retry-after: one failure of N


def test_another_process_record_is_honoured_and_old_ones_ignored() -> None:
    table, clock, _ = make()
    record = CooldownRecord(provider="acct", upstream_model="gpt-x", until=clock.now + 5)
    table._apply(KEY, EVENT_ENCODER.encode(record))
    assert not table.available(KEY)
    other = cooldown_key("acct", "old")
    table._apply(other, EVENT_ENCODER.encode(CooldownRecord(provider="acct", upstream_model="old", until=clock.now - 1)))
    assert table.available(other)
    table._apply(KEY, b"not json")  # logged, ignored
    assert not table.available(KEY)


def test_after_the_cooldown_a_trickle_until_one_success() -> None:
    table, clock, _ = make(probe_interval_s=1.0, cooldown_s=10)
    table.failed("acct", "gpt-x", 429, 2.0)
    clock.now += 2.5
    assert table.available(KEY)
    table.picked(KEY)
    assert not table.available(KEY)  # one probe per interval
    clock.now += 1.0
    assert table.available(KEY)
    table.picked(KEY)
    table.succeeded(KEY)
    table.picked(KEY)
    assert table.available(KEY)  # healthy again: no trickle


def test_a_failed_probe_cools_it_again_at_once() -> None:
    table, clock, published = make(cooldown_failures=5, cooldown_s=10)
    table.failed("acct", "gpt-x", 429, 2.0)
    clock.now += 3
    table.picked(KEY)
    assert table.failed("acct", "gpt-x", 502, None)
    assert table.seconds_left(KEY) == 10 and len(published) == 2


def test_retry_after_in_seconds_only() -> None:
    assert [parse_retry_after(v) for v in ("30", "0.5", None, "", "-1", "Wed, 21 Oct 2015 07:28:00 GMT")] == [
        30.0, 0.5, None, None, None, None]
