"""The bench report's verdicts: a quick run is judged only by ratios of the same run."""

from __future__ import annotations

from typing import Any

from bench.report import QUICK_RPS_RATIO, _where, machine, targets


def doc(quick: bool, ratio: float) -> dict[str, Any]:
    def row(op: str, c: int) -> dict[str, Any]:
        return {"route": "openai", "op": op, "concurrency": c, "direct": {"rps": 1000.0}, "gateway": {"rps": 1000 * ratio},
                "gateway_overhead": {"rps_ratio": ratio, "latency_p50_added_ms": 9.0, "latency_p99_added_ms": 40.0,
                                     "ttfb_p50_added_ms": 9.0}}
    return {"matrix": {"settings": {"quick": quick}, "rows": [row("chat", 1), row("chat", 16), row("stream", 1)],
                       "machine": {"cores": 2, "cpu": "Slow CPU", "load_average": [3.5, 2.0, 1.0]}}}


def test_a_quick_run_on_a_slow_machine_is_not_judged_by_absolute_times() -> None:
    rows = targets(doc(quick=True, ratio=0.5))
    absolute = [r for r in rows if r[0].startswith(("added latency", "TTFB"))]
    assert absolute and all(r[3] == "not judged (quick run: absolute)" for r in absolute)
    ratios = {r[0]: r[3] for r in rows if "gateway vs direct" in r[0]}
    assert ratios == {"req/s gateway vs direct, openai chat c=16": "met",
                      "req/s gateway vs direct, openai stream c=1": "met"}
    assert "**not met**" not in "".join(str(cell) for r in rows for cell in r)


def test_a_quick_run_still_fails_on_a_bad_ratio() -> None:
    rows = targets(doc(quick=True, ratio=QUICK_RPS_RATIO / 2))
    assert [r[3] for r in rows if "gateway vs direct" in r[0]] == ["**not met**", "**not met**"]


def test_a_full_run_keeps_its_absolute_targets() -> None:
    rows = targets(doc(quick=False, ratio=0.5))
    assert [r[3] for r in rows if r[0].startswith("added latency")] == ["**not met**", "**not met**"]
    assert not [r for r in rows if "gateway vs direct" in r[0]]


def test_the_report_says_what_the_machine_is() -> None:
    assert {"cores", "cpu", "load_average"} <= set(machine())
    text = _where(doc(True, 0.5)["matrix"])
    assert "2 cores (Slow CPU)" in text and "load average 3.50 2.00 1.00" in text
