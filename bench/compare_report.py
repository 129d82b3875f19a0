"""benchmarks-compare.json and .md: this checkout against another ref, round by round.

Per scenario and side: added latency (gateway minus direct, both measured in the same
stack start) at p50 and p99, and CPU per request of each stack process kind (gateway,
worker, nats, ledger) and their total. CPU seconds per 1,000 requests is numerically
CPU milliseconds per request, which is how the tables name it. Ratios are current/REF,
taken round by round (the two sides of a round ran back to back) and then the median
over rounds; "within 5%" means the current checkout costs at most 5% more than REF.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from bench.report import STACK_KINDS, machine, now
from bench.trees import Tree

Doc = dict[str, Any]
TOLERANCE = 0.05
# (name in the report, where the figure sits in a side's digest)
METRICS = (("added_p50_ms", "added_p50_ms"), ("added_p99_ms", "added_p99_ms"), ("cpu_total", "cpu_ms_per_request"))


def digest(row: Doc) -> Doc:
    """The figures of one side for one scenario of one round."""
    gateway, over = row["gateway"], row.get("gateway_overhead", {})
    per_1k = gateway.get("cpu_s_per_1k", {})
    cpu = {kind: per_1k.get(kind, 0.0) for kind in STACK_KINDS}
    return {"requests": gateway["ok"], "errors": gateway["errors"] + gateway["check_failures"],
            "rps": gateway["rps"], "added_p50_ms": over.get("latency_p50_added_ms"),
            "added_p99_ms": over.get("latency_p99_added_ms"),
            "cpu_ms_per_request": {**cpu, "total": round(sum(cpu.values()), 3)}}


def _value(side: Doc, key: str) -> float | None:
    value = side[key]["total"] if key == "cpu_ms_per_request" else side[key]
    return None if value is None else float(value)


def _ratio(current: float | None, ref: float | None) -> float | None:
    # NOTE: an added latency at or below zero (noise at tiny durations) has no meaningful ratio
    if current is None or ref is None or ref <= 0 or current < 0:
        return None
    return current / ref


def _median(values: list[float | None], digits: int = 3) -> float | None:
    found = [v for v in values if v is not None]
    return round(statistics.median(found), digits) if found else None


def _within(ratio: float | None) -> bool:
    return ratio is not None and ratio <= 1 + TOLERANCE


def scenario(label: str, runs: list[Doc]) -> Doc:
    """Every round of one scenario, each side's medians, and the median current/REF ratios."""
    by_round: dict[int, dict[str, Doc]] = {}
    for run in runs:
        by_round.setdefault(run["round"], {})[run["side"]] = run["figures"]
    medians = {side: {key: _median([_value(r[side], key) for r in by_round.values() if side in r])
                      for _, key in METRICS} for side in ("current", "ref")}
    ratios = {name: _median([_ratio(_value(r["current"], key), _value(r["ref"], key))
                             for r in by_round.values() if len(r) == 2])
              for name, key in METRICS}
    for kind in STACK_KINDS:
        ratios[f"cpu_{kind}"] = _median([_ratio(r["current"]["cpu_ms_per_request"][kind],
                                                r["ref"]["cpu_ms_per_request"][kind])
                                         for r in by_round.values() if len(r) == 2])
    within = {name: _within(ratios[name]) for name in ("added_p50_ms", "cpu_total")}
    return {"scenario": label, "rounds": runs, "median": medians, "ratio": ratios, "within_5pct": within}


def build(args: argparse.Namespace, sides: dict[str, Tree], runs: list[Doc]) -> Doc:
    """The report: which commits, the settings, and each scenario's rounds and ratios."""
    flat: dict[str, list[Doc]] = {}
    for run in runs:
        for row in run["rows"]:
            label = f"{row['route']} {row['op']} c={row['concurrency']}"
            flat.setdefault(label, []).append({"round": run["round"], "side": run["side"], "commit": run["commit"],
                                               "figures": digest(row)})
    return {
        "generated_by": "scripts/bench --compare", "date": now(), "machine": machine(),
        "sides": {side: {"label": tree.label, "commit": tree.commit, "changes": tree.dirty}
                  for side, tree in sides.items()},
        "ref": args.compare,
        "settings": {"rounds": args.rounds, "duration_s": args.duration, "warmup_s": args.warmup,
                     "concurrency": args.concurrency, "routes": args.routes, "ops": args.ops,
                     "gateway_processes": args.gateway_processes, "workers": args.workers},
        "died": {f"round{r['round']}-{r['side']}": r["died"] for r in runs if r["died"]},
        "scenarios": [scenario(label, found) for label, found in flat.items()],
    }


def write(out_dir: Path, doc: Doc) -> tuple[Path, Path]:
    """benchmarks-compare.json and .md into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "benchmarks-compare.json", out_dir / "benchmarks-compare.md"
    json_path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    md_path.write_text(markdown(doc))
    return json_path, md_path


# ---------------------------------------------------------------------- formatting


def _n(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.{0 if abs(value) >= 1000 else 1 if abs(value) >= 100 else 3}f}"
    return str(value)


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(_n(c) for c in row) + " |" for row in rows] + [""]


def table(doc: Doc) -> str:
    """The ratios: one row per scenario (what the run prints at the end)."""
    cur, ref = doc["sides"]["current"]["label"].split()[1], doc["sides"]["ref"]["label"].split()[1]
    head = ["scenario", "added p50 ms: current", "ref", "ratio", "added p99 ms: current", "ref", "ratio",
            "CPU ms/req: current", "ref", "ratio", "gateway CPU ratio", "within 5% (p50, CPU)"]
    rows = []
    for s in doc["scenarios"]:
        m, r, w = s["median"], s["ratio"], s["within_5pct"]
        rows.append([s["scenario"], m["current"]["added_p50_ms"], m["ref"]["added_p50_ms"], r["added_p50_ms"],
                     m["current"]["added_p99_ms"], m["ref"]["added_p99_ms"], r["added_p99_ms"],
                     m["current"]["cpu_ms_per_request"], m["ref"]["cpu_ms_per_request"], r["cpu_total"],
                     r["cpu_gateway"], f"{_n(w['added_p50_ms'])}, {_n(w['cpu_total'])}"])
    rounds = doc["settings"]["rounds"]
    title = f"current: {cur}; ref: {ref} ({doc['ref']}); ratios current/ref, median over {rounds} rounds"
    return "\n".join([title, ""] + _table(head, rows))


def _rounds(doc: Doc) -> list[str]:
    head = ["scenario", "round", "side", "commit", "req/s", "requests", "errors", "added p50 ms", "added p99 ms",
            *[f"{kind} CPU ms/req" for kind in STACK_KINDS], "total CPU ms/req"]
    rows = []
    for s in doc["scenarios"]:
        for run in s["rounds"]:
            f = run["figures"]
            cpu = f["cpu_ms_per_request"]
            rows.append([s["scenario"], run["round"], run["side"], run["commit"], f["rps"], f["requests"],
                         f["errors"], f["added_p50_ms"], f["added_p99_ms"], *[cpu[k] for k in STACK_KINDS],
                         cpu["total"]])
    return _table(head, rows)


def markdown(doc: Doc) -> str:
    """The whole comparison as markdown."""
    m, s = doc["machine"], doc["settings"]
    lines = [f"# Benchmark comparison: {doc['sides']['current']['label']} against {doc['sides']['ref']['label']}",
             "", "Written by `scripts/bench --compare " + str(doc["ref"]) + "`; do not edit by hand. Each round "
             "starts the whole stack from each side in turn (odd rounds the current checkout first, even rounds "
             "the ref first) and runs the same scenarios; the ref runs from a temporary git worktree with the "
             "same Python and packages, and both sides use this checkout's fake upstream and load driver. Added "
             "latency is gateway minus direct within the same stack start. CPU ms per request sums the stack's "
             "processes (gateway, worker, nats, ledger). Ratios are current/ref per round, median over rounds; "
             f"within 5% means a ratio of at most {1 + TOLERANCE:.2f}.", "",
             f"Ran {doc['date']}; {m.get('cores')} cores ({m.get('cpu')}); Python {m.get('python')}; "
             + ", ".join(f"{k}={v}" for k, v in s.items()) + ".", ""]
    if doc["died"]:
        lines += [f"**Processes that exited during the run: {doc['died']}.**", ""]
    lines += ["## Current against ref", "", table(doc), "## Every round", ""] + _rounds(doc)
    return "\n".join(lines).rstrip() + "\n"
