"""The scenarios: what is sent where, and the three kinds of run built from them.

- the matrix: each (route, op, concurrency) sent straight to the fake upstream, through
  our gateway and (with `--peer`) through the peer, one after the other in the same run,
  so each row carries its own overhead;
- the worker curve: the same load with 1, 2 and 4 worker processes;
- held streams: N slow streams open at once on one gateway process, its memory sampled;
- deployments: the same chat through a model with one deployment and one with three
  (issue 16), alternating request by request in one run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.driver import Driver, Endpoint, Event, healthy, measure, problems
from bench.payloads import (
    UPSTREAM_KEY,
    anthropic_body,
    openai_chat_body,
    openai_embed_body,
    reply_text,
)
from bench.procs import Registry, memory_kb
from bench.stack import ANTHROPIC_UPSTREAM_MODEL, MODELS, Stack

OPS = {"openai": ("chat", "stream", "embed"), "anthropic": ("chat", "stream")}


@dataclass(frozen=True)
class Case:
    """One row of the matrix."""

    route: str  # "openai" | "anthropic": the provider kind behind the public model
    op: str  # "chat" | "stream" | "embed"
    concurrency: int

    @property
    def label(self) -> str:
        """A short name such as `openai stream c=16`."""
        return f"{self.route} {self.op} c={self.concurrency}"


@dataclass(frozen=True)
class Front:
    """An OpenAI-compatible front end to send the public requests to (ours or a peer)."""

    port: int
    key: str


def cases(routes: list[str], concurrencies: list[int]) -> list[Case]:
    """Every (route, op, concurrency) to run, in order."""
    return [Case(route, op, c) for route in routes for op in OPS[route] for c in concurrencies]


def direct(case: Case, upstream_port: int, chunks: int) -> Endpoint:
    """The same request in the upstream's own protocol, straight to the fake upstream."""
    stream = case.op == "stream"
    if case.route == "anthropic":
        return Endpoint(upstream_port, "/v1/messages", anthropic_body(ANTHROPIC_UPSTREAM_MODEL, stream),
                        "anthropic-stream" if stream else "anthropic-chat", reply_text(chunks),
                        {"x-api-key": UPSTREAM_KEY, "anthropic-version": "2023-06-01"})
    return _public(case, Front(upstream_port, UPSTREAM_KEY), chunks)


def through(case: Case, front: Front, chunks: int) -> Endpoint:
    """The public OpenAI request of `case`, sent to our gateway or a peer."""
    return _public(case, front, chunks)


def _public(case: Case, front: Front, chunks: int, chat_model: str = MODELS.chat) -> Endpoint:
    headers = {"authorization": f"Bearer {front.key}"}
    if case.op == "embed":
        return Endpoint(front.port, "/v1/embeddings", openai_embed_body(MODELS.embed), "embed", "", headers)
    model = MODELS.claude if case.route == "anthropic" else chat_model
    stream = case.op == "stream"
    return Endpoint(front.port, "/v1/chat/completions", openai_chat_body(model, stream),
                    "stream" if stream else "chat", reply_text(chunks), headers)


def overhead(base: Event, other: Event) -> dict[str, Any]:
    """`other` against the direct run: added ms and ratios of latency, TTFB and req/s."""
    out: dict[str, Any] = {"rps_ratio": round(other["rps"] / base["rps"], 3) if base["rps"] else None}
    for metric in ("latency_ms", "ttfb_ms"):
        a, b = base.get(metric), other.get(metric)
        if not a or not b:
            continue
        for p in ("p50", "p95", "p99"):
            out[f"{metric[:-3]}_{p}_added_ms"] = round(b[p] - a[p], 3)
            out[f"{metric[:-3]}_{p}_ratio"] = round(b[p] / a[p], 2) if a[p] else None
    return out


def run_matrix(driver: Driver, stack: Stack, ours: Front, peer: Front | None, todo: list[Case],
               chunks: int, duration: float, warmup: float, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Run every case direct, through us and through the peer; one row each."""
    rows = []
    for case in todo:
        row: dict[str, Any] = {"route": case.route, "op": case.op, "concurrency": case.concurrency}
        row["direct"] = measure(driver, f"direct {case.label}", direct(case, stack.upstream_port, chunks),
                                case.concurrency, duration, warmup)
        row["gateway"] = measure(driver, f"gateway {case.label}", through(case, ours, chunks),
                                 case.concurrency, duration, warmup)
        row["gateway_overhead"] = overhead(row["direct"], row["gateway"])
        if peer is not None:
            row["peer"] = measure(driver, f"peer {case.label}", through(case, peer, chunks),
                                  case.concurrency, duration, warmup)
            row["peer_overhead"] = overhead(row["direct"], row["peer"])
        rows.append(row)
        say(_progress(case, row))
    return rows


def _progress(case: Case, row: dict[str, Any]) -> str:
    parts = [f"{case.label:<24}"]
    for side in ("direct", "gateway", "peer"):
        result = row.get(side)
        if result is None:
            continue
        lat = result["latency_ms"] or {}
        text = f"{side} {result['rps']:>8.1f} req/s p50 {lat.get('p50', 0):7.2f} ms"
        if not healthy(result):
            text += f" [{problems(result)}]"
        parts.append(text)
    return " | ".join(parts)


def run_worker_curve(driver: Driver, stack: Stack, ours: Front, counts: list[int], concurrency: int,
                     chunks: int, duration: float, warmup: float, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Non-stream and stream chat through the gateway with each number of worker processes."""
    rows = []
    for count in counts:
        stack.restart_workers(count)
        for op in ("chat", "stream"):
            case = Case("openai", op, concurrency)
            result = measure(driver, f"curve workers={count} {case.label}", through(case, ours, chunks),
                             concurrency, duration, warmup)
            rows.append({"workers": count, "op": op, "concurrency": concurrency, "gateway": result})
            say(f"workers={count} {op:<6} c={concurrency}: {result['rps']:8.1f} req/s, "
                f"cores {result.get('cores', {})}" + ("" if healthy(result) else f" [{problems(result)}]"))
    return rows


class MemorySampler:
    """Samples VmRSS of some processes in a thread; keeps the largest value seen."""

    def __init__(self, pids: Callable[[], list[int]], every_s: float = 0.1) -> None:
        self._pids = pids
        self._every = every_s
        self._stop = threading.Event()
        self.peak_kb = 0
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> int:
        """Current summed VmRSS of the processes, in KiB."""
        return sum(memory_kb(pid).get("VmRSS", 0) for pid in self._pids())

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, self.sample())
            self._stop.wait(self._every)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_held_streams(driver: Driver, stack: Stack, registry: Registry, ours: Front, count: int,
                     gap_ms: int, chunks: int, fast_chunks: int, say: Callable[[str], None]) -> dict[str, Any]:
    """`count` slow streams (`chunks` chunks `gap_ms` apart) open at once on one gateway process.

    Returns the gateway's memory before, while all are open and at its peak, and the
    streams' own figures. `fast_chunks` is the fake upstream's default (for the warm-up).
    """
    stack.restart_gateway(1)
    endpoint = Endpoint(ours.port, "/v1/chat/completions", openai_chat_body(MODELS.slow, True), "stream",
                        reply_text(chunks), {"authorization": f"Bearer {ours.key}"})
    # NOTE: warm the new process (imports, pools, the key) with fast streams before the baseline
    measure(driver, "streams warm-up", through(Case("openai", "stream", 4), ours, fast_chunks), 4, 0.5, 0.2)
    gateway_pids = stack.gateway_worker_pids
    workers = lambda: [pid for proc in registry.of_kind("worker") for pid in proc.pids()]  # noqa: E731
    baseline = {"gateway_rss_mb": _mb(MemorySampler(gateway_pids).sample()),
                "worker_rss_mb": _mb(MemorySampler(workers).sample())}
    opened: dict[str, Any] = {}

    def on_event(event: Event) -> None:
        if event["event"] == "open":
            opened.update(event, gateway_rss_mb=_mb(MemorySampler(gateway_pids).sample()))

    started = time.perf_counter()
    with MemorySampler(gateway_pids) as gateway_mem, MemorySampler(workers) as worker_mem:
        result = measure(driver, f"{count} held streams", endpoint, count, 0.0, 0.0, mode="hold",
                         timeout=60 + gap_ms * chunks / 1000 * 3, on_event=on_event)
    peak = {pid: memory_kb(pid).get("VmHWM", 0) for pid in gateway_pids()}
    out = {
        "streams": count, "gap_ms": gap_ms, "chunks": chunks, "gateway_processes": 1,
        "baseline": baseline, "all_open": opened or None,
        "gateway_peak_rss_mb": _mb(gateway_mem.peak_kb), "gateway_vmhwm_mb": _mb(sum(peak.values())),
        "worker_peak_rss_mb": _mb(worker_mem.peak_kb),
        "rss_per_stream_kb": round((gateway_mem.peak_kb - baseline["gateway_rss_mb"] * 1024) / count, 1),
        "wall_s": round(time.perf_counter() - started, 2), "result": result,
    }
    say(f"{count} streams: all open after {opened.get('after_s', '?')} s; gateway RSS {baseline['gateway_rss_mb']} MB"
        f" -> peak {out['gateway_peak_rss_mb']} MB ({out['rss_per_stream_kb']} KB/stream); "
        f"ok {result['ok']}/{count}" + ("" if healthy(result) else f" [{problems(result)}]"))
    return out


def _mb(kb: float) -> float:
    return round(kb / 1024, 1)


def run_deployments(driver: Driver, ours: Front, concurrencies: list[int], chunks: int, duration: float,
                    warmup: float, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Chat and stream through a one-deployment model and a three-deployment one (the
    same fake upstream behind all of them), interleaved request by request on every
    connection of one run, so both see exactly the same machine.

    NOTE: separate back-to-back runs were tried first; on this shared 2-core machine the
    later runs of a pair were slowed by the ledger and NATS catching up on the earlier
    ones' usage events, by more than the difference measured (the same model on both
    sides came out 15 % apart).
    """
    rows = []
    for op in ("chat", "stream"):
        for concurrency in concurrencies:
            case = Case("openai", op, concurrency)
            mixed = measure(driver, f"one/three deployments {case.label}", _public(case, ours, chunks, MODELS.chat),
                            concurrency, duration, warmup, alt=_public(case, ours, chunks, MODELS.multi))
            three = mixed.pop("alt")
            row: dict[str, Any] = {"op": op, "concurrency": concurrency, "one": mixed, "three": three}
            row["three_vs_one"] = overhead(mixed, three)
            rows.append(row)
            say(f"{case.label:<22} one deployment {mixed['rps']:8.1f} req/s p50 "
                f"{mixed['latency_ms']['p50']:6.2f} ms | three {three['rps']:8.1f} req/s p50 "
                f"{three['latency_ms']['p50']:6.2f} ms" + ("" if healthy(mixed) else f" [{problems(mixed)}]"))
    return rows
