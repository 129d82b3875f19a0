"""The key cache: misses are remembered briefly and look-ups are rate-limited."""

from __future__ import annotations

import io

from gateway.contracts.bus import KeyRecord
from gateway.contracts.log import Logger
from gateway.keycache import KeyCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_miss_is_cached_for_its_ttl() -> None:
    clock = Clock()
    cache = KeyCache(Logger("t", io.StringIO()), miss_ttl_s=2.0, lookups_per_s=100, clock=clock)
    assert cache.may_look_up("h")
    cache.remember("h", None)
    assert not cache.may_look_up("h")
    clock.now += 2.5
    assert cache.may_look_up("h")


def test_lookups_are_capped_per_second() -> None:
    clock = Clock()
    cache = KeyCache(Logger("t", io.StringIO()), miss_ttl_s=0, lookups_per_s=5, clock=clock)
    allowed = sum(cache.may_look_up(f"h{i}") for i in range(50))
    assert allowed == 5
    clock.now += 1.0
    assert sum(cache.may_look_up(f"x{i}") for i in range(50)) == 5


def test_found_key_is_remembered() -> None:
    cache = KeyCache(Logger("t", io.StringIO()))
    record = KeyRecord(id="k", name="n", hash="h")
    cache.remember("h", record)
    assert cache.get("h") is record
