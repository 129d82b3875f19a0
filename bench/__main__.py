"""`scripts/bench`: run the benchmark and write docs/benchmarks.md and docs/benchmarks.json.

Default: the scenario matrix (non-stream chat, stream chat, embeddings; concurrency 1, 16,
64; OpenAI-kind routes, and Anthropic-kind ones when that provider is importable), each
sent direct to the fake upstream and through the gateway, in under three minutes.
`--quick` is a short smoke run (c=1 and 16, about 40 s) that does not touch docs/.
`--worker-curve`, `--streams N`, `--metered-key`, `--profile` and `--deployments` are separate modes (add `--matrix` to
run the matrix as well); `--peer litellm` adds LiteLLM's proxy to the matrix. `--compare REF` runs
the matrix on this checkout and on another git ref, alternated (bench/compare.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from gateway.contracts.config import data_dir
from bench import peer_litellm, report, tools
from bench.driver import Driver, healthy, measure
from bench.fake_upstream import self_check
from bench.payloads import DEFAULT_CHUNKS
from bench.procs import ROOT, Registry, memory_kb
from bench.profiling import Profiler
from bench.scenarios import (
    OPS,
    Case,
    Front,
    cases,
    direct,
    run_held_streams,
    run_deployments,
    run_matrix,
    run_worker_curve,
    through,
)
from bench.stack import Stack, anthropic_available
from bench.trees import Tree
from bench import compare


def _csv_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def parser() -> argparse.ArgumentParser:
    """The command line of `scripts/bench`."""
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=3.0, help="measured seconds per scenario (default 3)")
    p.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds before each scenario")
    p.add_argument("--quick", action="store_true", help="c=1 and 16, 1 s each; prints, does not write docs/")
    p.add_argument("--gateway-processes", type=int, default=int(os.environ.get("GATEWAY_WORKERS", "1")),
                   help="gunicorn processes of the gateway (default GATEWAY_WORKERS or 1)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--concurrency", type=_csv_ints, default=[1, 16, 64], help="comma-separated, default 1,16,64")
    p.add_argument("--routes", type=_csv, default=["openai", "anthropic"], help="openai,anthropic")
    p.add_argument("--ops", type=_csv, default=["chat", "stream", "embed"], help="chat,stream,embed")
    p.add_argument("--chunks", type=int, default=DEFAULT_CHUNKS, help="content chunks per stream")
    p.add_argument("--matrix", action="store_true", help="run the matrix too when a mode below is given")
    p.add_argument("--worker-curve", action="store_true", help="throughput with 1, 2 and 4 worker processes")
    p.add_argument("--curve-concurrency", type=int, default=64)
    p.add_argument("--streams", type=int, default=0, metavar="N", help="N slow streams at once on one gateway process")
    p.add_argument("--stream-gap-ms", type=int, default=500, help="gap between chunks of a slow stream")
    p.add_argument("--stream-chunks", type=int, default=10, help="chunks of a slow stream")
    p.add_argument("--profile", action="store_true", help="py-spy profiles of the gateway and workers under load")
    p.add_argument("--profile-seconds", type=float, default=6.0)
    p.add_argument("--peer", choices=["litellm"], help="also run the matrix against LiteLLM's proxy")
    p.add_argument("--peer-version", default=peer_litellm.DEFAULT_VERSION)
    p.add_argument("--peer-processes", type=int, default=0,
                   help="LiteLLM worker processes (default: gateway processes + workers)")
    p.add_argument("--output", "--out", type=Path,
                   help="where benchmarks.md/.json (or benchmarks-compare.*) go (default docs/; --quick: the run dir)")
    p.add_argument("--no-install", action="store_true", help="never pip-install uvloop or py-spy")
    p.add_argument("--soak", type=float, default=0, metavar="S",
                   help="S seconds of streams at c=16, sampling each process kind's RSS (memory plateau)")
    p.add_argument("--deployments", action="store_true",
                   help="chat and streams through a model of one deployment and one of three (issue 16)")
    p.add_argument("--limited-key", action="store_true",
                   help="the bench key has (unreachable) RPM/TPM limits: measures the limiter's cost")
    p.add_argument("--metered-key", action="store_true",
                   help="non-stream chat with an unmetered and a metered key, alternately: the balance hold's cost")
    p.add_argument("--rounds", type=int, default=2,
                   help="--metered-key, --compare: alternations per concurrency / full runs of each side (default 2)")
    p.add_argument("--compare", metavar="REF",
                   help="also start the stack from git REF (a temporary worktree), alternating rounds with this checkout")
    return p


def say(text: str) -> None:
    """A progress line."""
    print(text, flush=True)


def _interrupt(signum: int, frame: Any) -> NoReturn:
    raise KeyboardInterrupt


class Bench:
    """One run: the stack, the driver and the sections measured so far."""

    def __init__(self, args: argparse.Namespace, registry: Registry, workdir: Path, tree: Tree | None = None) -> None:
        self.args = args
        self.registry = registry
        self.workdir = workdir
        self.tree = tree
        self.stack = Stack(registry, workdir, tree)
        self.sections: dict[str, Any] = {}
        self.unhealthy = 0
        self.profiler: Profiler | None = None

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The knobs a section was measured with."""
        a = self.args
        return {"gateway_processes": a.gateway_processes, "workers": a.workers, "duration_s": a.duration,
                "chunks": a.chunks, **extra}

    def section(self, **fields: Any) -> dict[str, Any]:
        """A report section stamped with date and machine (and processes that died meanwhile)."""
        died = self.registry.dead()
        if died:
            say(f"*** processes that exited during the run: {', '.join(died)} (logs: {self.workdir})")
        return {"date": report.now(), "machine": report.machine(), "died": died, **fields}

    def start(self) -> None:
        """Fake upstream (checked), NATS, ledger, workers, gateway, a key, the driver."""
        a, stack = self.args, self.stack
        if not a.no_install and not tools.ensure_module("uvloop", "uvloop"):
            say("uvloop not available: the fake upstream and the driver use the default asyncio loop")
        self.anthropic, why = anthropic_available()
        if "anthropic" in a.routes and not self.anthropic:
            say(f"anthropic-kind scenarios skipped: {why}")
        port = stack.start_upstream(a.chunks)
        found = self_check(port, a.chunks)
        if found:
            raise RuntimeError("the fake upstream failed its self-check:\n" + "\n".join(found))
        # NOTE: the Anthropic provider only when its scenarios run: another ref may lack it (--compare)
        stack.write_config(self.anthropic and "anthropic" in a.routes, a.stream_gap_ms, a.stream_chunks)
        stack.start_nats()
        stack.start_ledger()
        stack.start_workers(a.workers)
        stack.start_gateway(a.gateway_processes)
        self.ours = Front(stack.gateway_port, stack.create_key("bench", limited=a.limited_key))
        self.driver = Driver(self.registry)
        if a.compare:  # NOTE: the upstream's own ceiling is the same for both sides: not measured there
            self.upstream = {"loop": stack.upstream_loop}
            return
        alone = measure(self.driver, "fake upstream alone", direct(Case("openai", "chat", 16), port, a.chunks),
                        16, 1.0, 0.2)
        self.upstream = {"direct_rps": alone["rps"], "loop": stack.upstream_loop,
                         "cpu_cores": alone.get("cores", {}).get("upstream")}
        say(f"fake upstream alone: {alone['rps']:.0f} req/s non-stream chat at c=16 ({stack.upstream_loop}; "
            f"upstream used {self.upstream['cpu_cores']} core, the load driver {alone.get('cores', {}).get('loadgen')})")

    def routes(self) -> list[str]:
        """The routes this run can measure."""
        return [r for r in self.args.routes if r in OPS and (r != "anthropic" or self.anthropic)]

    def matrix(self) -> None:
        """Every scenario, direct / gateway / peer."""
        a = self.args
        peer, peer_info = self.peer() if a.peer else (None, None)
        todo = [c for c in cases(self.routes(), a.concurrency) if c.op in a.ops]
        say(f"matrix: {len(todo)} scenarios x {2 + (peer is not None)} targets, {a.duration:g} s each")
        rows = run_matrix(self.driver, self.stack, self.ours, peer, todo, a.chunks, a.duration, a.warmup, say)
        self.unhealthy += sum(not healthy(r[side]) for r in rows for side in ("direct", "gateway"))
        self.sections["matrix"] = self.section(
            settings=self.settings(concurrency=a.concurrency, quick=a.quick), upstream=self.upstream,
            rows=rows, memory=self.registry.memory_by_kind(), peer=peer_info)

    def peer(self) -> tuple[Front | None, dict[str, Any]]:
        """LiteLLM started on the same fake upstream, or None and why not."""
        a = self.args
        processes = a.peer_processes or a.gateway_processes + a.workers
        info: dict[str, Any] = {"name": "litellm", "version": a.peer_version, "processes": processes}
        try:
            exe = peer_litellm.install(data_dir() / "bench" / "litellm-venv", a.peer_version, say)
            config = self.workdir / "litellm.yaml"
            config.write_text(peer_litellm.config_yaml(self.stack.upstream_port, "anthropic" in self.routes()))
            say(f"starting LiteLLM's proxy ({processes} processes)")
            _, port = peer_litellm.start(self.registry, exe, config, processes)
        except (peer_litellm.PeerUnavailableError, RuntimeError, TimeoutError) as ex:
            info["status"] = f"LiteLLM unavailable: {ex}"
            say(f"*** {info['status']}\n*** continuing without the peer")
            return None, info
        info["status"] = "ok"
        return Front(port, peer_litellm.MASTER_KEY), info

    def credit(self) -> None:
        """Non-stream chat with an unmetered key and a metered one, alternately, at each concurrency."""
        a = self.args
        metered = Front(self.stack.gateway_port, self.stack.create_key("bench-metered", metered=True))
        rows = []
        for c in a.concurrency:
            case = Case("openai", "chat", c)
            for round_ in range(a.rounds):
                for name, front in (("unmetered", self.ours), ("metered", metered)):
                    result = measure(self.driver, f"{name} {case.label}", through(case, front, a.chunks), c,
                                     a.duration, a.warmup)
                    self.unhealthy += not healthy(result)
                    rows.append({"key": name, "concurrency": c, "round": round_ + 1, "gateway": result})
                    lat = result["latency_ms"] or {}
                    say(f"{name:<9} c={c:<3} round {round_ + 1}: {result['rps']:8.1f} req/s, "
                        f"p50 {lat.get('p50', 0):6.2f} ms, gateway CPU/1k "
                        f"{result.get('cpu_s_per_1k', {}).get('gateway')} s")
        self.sections["credit"] = self.section(settings=self.settings(concurrency=a.concurrency, rounds=a.rounds),
                                               rows=rows)

    def curve(self) -> None:
        """Throughput by number of worker processes."""
        a = self.args
        rows = run_worker_curve(self.driver, self.stack, self.ours, [1, 2, 4], a.curve_concurrency, a.chunks,
                                a.duration, a.warmup, say)
        self.stack.restart_workers(a.workers)
        self.sections["worker_curve"] = self.section(settings=self.settings(concurrency=a.curve_concurrency),
                                                     rows=rows)

    def held_streams(self) -> None:
        """N slow streams at once on one gateway process."""
        a = self.args
        out = run_held_streams(self.driver, self.stack, self.registry, self.ours, a.streams, a.stream_gap_ms,
                               a.stream_chunks, a.chunks, say)
        self.unhealthy += not healthy(out["result"])
        self.stack.restart_gateway(a.gateway_processes)
        self.sections["streams"] = self.section(settings={"gateway_processes": 1, "workers": a.workers}, **out)

    def soak(self) -> None:
        """Streams for `--soak` seconds in ten slices; RSS of every process kind after each."""
        a = self.args
        slice_s = a.soak / 10
        case = Case("openai", "stream", 16)
        samples = []
        started = time.monotonic()
        for i in range(10):
            result = measure(self.driver, f"soak {i + 1}/10", through(case, self.ours, a.chunks),
                             case.concurrency, slice_s, 0.0)
            self.unhealthy += not healthy(result)
            rss = {kind: round(sum(memory_kb(pid).get("VmRSS", 0) for p in self.registry.of_kind(kind)
                                   for pid in p.pids()) / 1024, 1)
                   for kind in ("gateway", "worker", "nats", "ledger")}
            samples.append({"after_s": round(time.monotonic() - started), "requests": result["ok"],
                            "rps": result["rps"], "rss_mb": rss})
            say(f"soak {i + 1}/10: {result['rps']:.0f} req/s, RSS MB {rss}")
        self.sections["soak"] = self.section(settings=self.settings(concurrency=16, seconds=a.soak), samples=samples)

    def deployments(self) -> None:
        """One deployment against three, same requests, back to back."""
        a = self.args
        rows = run_deployments(self.driver, self.ours, a.concurrency, a.chunks, a.duration, a.warmup, say)
        self.unhealthy += sum(not healthy(r["one"]) for r in rows)
        self.sections["deployments"] = self.section(settings=self.settings(concurrency=a.concurrency), rows=rows)

    def profile(self) -> None:
        """py-spy on the gateway and worker processes: latency (c=1) and throughput (c=64) scenarios."""
        a = self.args
        spy = tools.py_spy() if not a.no_install else shutil.which("py-spy")
        if spy is None:
            say("py-spy is not available: no profiles")
            return
        self.profiler = profiler = Profiler(spy, self.workdir / "profiles")
        results: dict[str, Any] = {}
        todo = [Case("openai", "chat", 1), Case("openai", "chat", 64), Case("openai", "stream", 64)]
        if self.anthropic and "anthropic" in a.routes:
            todo.append(Case("anthropic", "stream", 16))
        for case in todo:
            targets = {"gateway": self.stack.gateway_worker_pids(),
                       "worker": [pid for p in self.registry.of_kind("worker") for pid in p.pids()]}
            tag = case.label.replace(" ", "-").replace("=", "")

            def on_event(event: dict[str, Any], targets: dict[str, list[int]] = targets, tag: str = tag) -> None:
                if event["event"] == "measure":
                    profiler.start(targets, a.profile_seconds, tag)

            result = measure(self.driver, f"profile {case.label}", through(case, self.ours, a.chunks),
                             case.concurrency, a.profile_seconds, a.warmup, on_event=on_event)
            results[f"{case.label} ({result['rps']:.0f} req/s while profiled)"] = profiler.finish()
            say(f"profiled {case.label}: raw stacks in {profiler.out_dir}")
        self.sections["profile"] = self.section(settings=self.settings(rate_hz=200), scenarios=results)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every request succeeded with the right content."""
    args = parser().parse_args(argv)
    if args.quick:
        args.concurrency, args.duration, args.warmup = [1, 16], min(args.duration, 1.0), 0.3
    if args.compare:
        return compare.main(args, Bench, say)
    modes = args.worker_curve or args.streams > 0 or args.profile or args.soak > 0 or args.deployments or args.metered_key
    workdir = data_dir().resolve() / "bench" / "run"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    registry = Registry(workdir)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    bench = Bench(args, registry, workdir)
    started = time.monotonic()
    code = 0
    try:
        bench.start()
        if args.matrix or not modes:
            bench.matrix()
        if args.metered_key:
            bench.credit()
        if args.worker_curve:
            bench.curve()
        if args.streams > 0:
            bench.held_streams()
        if args.soak > 0:
            bench.soak()
        if args.profile:
            bench.profile()
        if args.deployments:
            bench.deployments()
    except KeyboardInterrupt:
        say("\ninterrupted: stopping every process")
        code = 130
    except (RuntimeError, TimeoutError, OSError) as ex:
        say(f"\nbench failed: {ex}\n(logs of every process: {workdir})")
        code = 1
    finally:
        if bench.profiler is not None:
            bench.profiler.close()
        registry.stop_all()
        signal.signal(signal.SIGTERM, previous)
    if bench.sections:  # NOTE: what was measured before a failure is still worth keeping
        out_dir = args.output or (workdir if args.quick else ROOT / "docs")
        doc = report.merge(out_dir / "benchmarks.json", bench.sections)
        json_path, md_path = report.write(out_dir, doc)
        print("\n" + report.markdown({k: v for k, v in doc.items() if k in bench.sections}))
        say(f"wrote {md_path} and {json_path} in {time.monotonic() - started:.0f} s (process logs: {workdir})")
    if code == 0 and bench.unhealthy:
        say(f"*** {bench.unhealthy} runs had failed or wrong responses: see the errors columns")
        code = 2
    return code


if __name__ == "__main__":
    sys.exit(main())
