"""gateway/readiness.py without NATS: what is not ready is named, and answers are cached."""

from __future__ import annotations

from gateway.bus_client import Bridge
from gateway.contracts.log import Logger
from gateway.keycache import KeyCache
from gateway.readiness import Readiness


def make(clock: list[float]) -> tuple[Readiness, KeyCache]:
    log = Logger("test", stream=open("/dev/null", "w"))
    keys = KeyCache(log)
    bridge = Bridge("nats://127.0.0.1:1", log)  # never started: not connected
    return Readiness(bridge, keys, ["zeta", "alpha"], ttl_s=1.0, clock=lambda: clock[0]), keys


def test_a_gateway_without_nats_names_every_missing_part() -> None:
    readiness, _ = make([0.0])
    report = readiness.report()
    assert report.status == "not_ready"
    assert (report.nats, report.keys) == (False, False)
    assert report.providers == {"alpha": False, "zeta": False}
    assert report.not_ready == ["nats: not connected", "keys: not loaded",
                                "provider alpha: no worker answering", "provider zeta: no worker answering"]


def test_the_report_is_cached_for_the_ttl_then_probed_again() -> None:
    clock = [100.0]
    readiness, keys = make(clock)
    first = readiness.report()
    keys.loaded = True
    clock[0] = 100.9
    assert readiness.report() is first
    clock[0] = 101.0
    fresh = readiness.report()
    assert fresh is not first and fresh.keys is True and "keys: not loaded" not in fresh.not_ready
