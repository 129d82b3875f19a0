"""The orchestrator's side of the load driver: send a scenario, read the stack's CPU around it.

`Driver` keeps one `python -m bench.load` process and feeds it scenarios; `measure()` runs
one and adds, per process kind, the CPU seconds spent inside the measured window, per
1,000 requests, and as cores in use (CPU seconds per wall second).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from bench.load import Spec
from bench.procs import Registry

Event = dict[str, Any]
_ENCODE = msgspec.json.Encoder()


@dataclass(frozen=True)
class Endpoint:
    """Where and how one scenario's request is sent, and what comes back."""

    port: int
    path: str
    body: bytes
    kind: str  # checks kind of the response the client gets
    expected: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class Driver:
    """One load-driver process, fed one scenario at a time."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.proc = registry.start("loadgen", "loadgen", [sys.executable, "-m", "bench.load"], pipes=True)

    def run(self, spec: Spec, on_event: Callable[[Event], None] | None = None) -> Event:
        """Run `spec`; `on_event` sees the measure/measured/open events; returns the result."""
        self.proc.stdin.write(_ENCODE.encode(spec) + b"\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the load driver stopped\n{self.proc.log_tail()}")
            event: Event = msgspec.json.decode(line)
            if event.get("event") == "result":
                if "error" in event:
                    raise RuntimeError(f"the load driver refused the scenario: {event['error']}")
                return event
            if on_event is not None:
                on_event(event)


def measure(driver: Driver, name: str, endpoint: Endpoint, concurrency: int, duration: float,
            warmup: float, mode: str = "rate", timeout: float = 60.0,
            on_event: Callable[[Event], None] | None = None, alt: Endpoint | None = None) -> Event:
    """Run one scenario against `endpoint`; its result plus CPU per process kind.

    With `alt`, every other request of each connection is `alt`'s body (same port, path
    and checks); its figures are in the result's "alt".
    """
    registry = driver.registry
    marks: dict[str, Any] = {}

    def seen(event: Event) -> None:
        if event["event"] == "measure":
            marks["cpu0"], marks["t0"] = registry.cpu_by_kind(), time.perf_counter()
        elif event["event"] == "measured":
            marks["cpu1"], marks["t1"] = registry.cpu_by_kind(), time.perf_counter()
        if on_event is not None:
            on_event(event)

    spec = Spec(name=name, port=endpoint.port, path=endpoint.path, body=endpoint.body.decode(),
                kind=endpoint.kind, expected=endpoint.expected, headers=endpoint.headers,
                concurrency=concurrency, duration=duration, warmup=warmup, mode=mode, timeout=timeout,
                alt_body=alt.body.decode() if alt is not None else "")
    result = driver.run(spec, seen)
    if "cpu1" in marks:
        wall = max(marks["t1"] - marks["t0"], 1e-9)
        ok = max(result["ok"], 1)
        spent = {kind: max(0.0, marks["cpu1"].get(kind, 0.0) - before) for kind, before in marks["cpu0"].items()}
        result["cpu_s"] = {kind: round(s, 3) for kind, s in spent.items()}
        result["cpu_s_per_1k"] = {kind: round(s / ok * 1000, 3) for kind, s in spent.items()}
        result["cores"] = {kind: round(s / wall, 2) for kind, s in spent.items()}
    return result


def healthy(result: Event) -> bool:
    """Whether every request of a run succeeded with the right content."""
    return bool(result["ok"] > 0 and result["errors"] == 0 and result["check_failures"] == 0)


def problems(result: Event) -> str:
    """A one-line account of what went wrong in a run ('' when nothing did)."""
    parts = []
    if result["errors"]:
        parts.append(f"{result['errors']} errors ({'; '.join(result['error_samples'])})")
    if result["check_failures"]:
        parts.append(f"{result['check_failures']} wrong bodies ({'; '.join(result['check_samples'])})")
    if not result["ok"]:
        parts.append("no request completed in the window")
    return ", ".join(parts)
