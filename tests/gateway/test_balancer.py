"""Picking a deployment: weights, least busy, lowest latency, from the workers' reports."""

from __future__ import annotations

import io
import random

from gateway.balancer import LoadBoard, pick
from gateway.contracts.bus import DeploymentLoad, LoadReport
from gateway.contracts.config import Deployment
from gateway.contracts.log import Logger

A = Deployment(provider="a", upstream="m", name="a")
B = Deployment(provider="b", upstream="m", name="b")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def board() -> tuple[LoadBoard, Clock]:
    clock = Clock()
    return LoadBoard(1.0, Logger("test", io.StringIO()), clock), clock


def report(worker: str, provider: str, in_flight: int, latency: float | None = None) -> LoadReport:
    return LoadReport(worker=worker, provider=provider,
                      deployments=[DeploymentLoad(upstream_model="m", in_flight=in_flight, latency_ms=latency)])


def test_least_busy_counts_other_processes_by_report_and_ours_as_they_are() -> None:
    loads, clock = board()
    loads.apply(report("w1", "a", 3))
    loads.apply(report("w2", "a", 2))
    loads.apply(report("w1", "b", 4))
    assert loads.in_flight(A) == 5 and loads.in_flight(B) == 4
    assert pick("least_busy", [A, B], loads) == B
    loads.picked(B)
    loads.picked(B)
    assert loads.in_flight(B) == 6 and pick("least_busy", [A, B], loads) == A
    loads.apply(report("w1", "b", 6))  # the report now holds our two as well
    assert loads.in_flight(B) == 6
    loads.finished(B)
    loads.finished(B)  # a fast deployment's answered requests stop counting at once
    assert loads.in_flight(B) == 4
    loads.finished(B)  # never below zero
    clock.now += 10  # every report stale: only ours count
    assert loads.in_flight(A) == 0 and loads.in_flight(B) == 0


def test_latency_prefers_the_fastest_and_measures_the_unknown() -> None:
    loads, _ = board()
    loads.apply(report("w1", "a", 0, 400.0))
    loads.apply(report("w1", "b", 0, 90.0))
    assert {pick("latency", [A, B], loads) for _ in range(50)} == {B}
    c = Deployment(provider="c", upstream="m", name="c")
    assert pick("latency", [A, B, c], loads) == c


def test_weighted_draws_by_weight() -> None:
    loads, _ = board()
    heavy = Deployment(provider="a", upstream="m", name="a", weight=9)
    rng = random.Random(1)
    picks = [pick("weighted", [heavy, B], loads, rng) for _ in range(1000)]
    assert 0.87 < picks.count(heavy) / 1000 < 0.93
