"""The worker's load report: jobs in flight and time to first output, per deployment."""

from __future__ import annotations

from gateway.contracts.bus import Job
from workers.load import LoadTracker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def job(provider: str, upstream: str) -> Job:
    return Job(request_id="r", key_id="k", op="chat", model="m", provider=provider, upstream_model=upstream,
               body=b"{}", deadline=0.0)


def test_in_flight_and_latency_per_deployment() -> None:
    clock = Clock()
    tracker = LoadTracker(clock)
    first_a = tracker.begin(job("a", "m1"))
    tracker.begin(job("a", "m1"))
    first_b = tracker.begin(job("b", "m1"))
    clock.now += 0.25
    first_a()
    first_b()
    reports = {r.provider: r for r in tracker.reports()}
    assert [(d.upstream_model, d.in_flight, d.latency_ms) for d in reports["a"].deployments] == [("m1", 2, 250.0)]
    tracker.end(job("a", "m1"))
    tracker.end(job("b", "m1"))
    tracker.end(job("b", "m1"))  # never below zero
    first = tracker.begin(job("a", "m1"))
    clock.now += 1.25
    first()  # a moving average: 250 + 0.3 * (1250 - 250)
    reports = {r.provider: r for r in tracker.reports()}
    assert [(d.in_flight, d.latency_ms) for d in reports["a"].deployments] == [(2, 550.0)]
    assert reports["b"].deployments[0].in_flight == 0 and reports["a"].worker == reports["b"].worker
