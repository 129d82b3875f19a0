"""gateway/shutdown.drain: wait for requests in flight up to the grace, then cut the rest."""

from __future__ import annotations

import io

from gateway.contracts.log import Logger
from gateway.shutdown import drain


class Bus:
    """A bridge with requests that end after a number of polls (or never)."""

    ready = True

    def __init__(self, ends_after: list[int | None]) -> None:
        self.draining = False
        self.ends_after = ends_after
        self.cut = False
        self.flushed = False

    @property
    def in_flight(self) -> int:
        return len(self.ends_after)

    def tick(self) -> None:
        """One poll: each request comes closer to its end; all end once cut."""
        if self.cut:
            self.ends_after = []
            return
        self.ends_after = [None if n is None else n - 1 for n in self.ends_after if n is None or n > 1]

    def cut_all(self) -> None:
        self.cut = True

    def flush(self, timeout: float) -> None:
        self.flushed = True


def _run(bus: Bus, grace_s: float) -> int:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        bus.tick()

    return drain(bus, grace_s, Logger("t", io.StringIO()), sleep=sleep, clock=lambda: now[0])  # type: ignore[arg-type]


def test_requests_that_finish_within_the_grace_are_not_cut() -> None:
    bus = Bus([3, 10])
    assert _run(bus, 2.0) == 0
    assert bus.draining and not bus.cut and bus.flushed


def test_requests_still_running_at_the_end_of_the_grace_are_cut() -> None:
    bus = Bus([3, None, None])
    assert _run(bus, 1.0) == 2
    assert bus.cut and bus.in_flight == 0 and bus.flushed
