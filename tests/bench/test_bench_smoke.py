"""Smoke test of scripts/bench: the fake upstream's self-check, and one short scenario
through the real stack (nats-server, worker, ledger, gunicorn gateway) with a report.

No timing thresholds: only that requests succeeded with the right content and that the
report carries numbers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.fake_upstream import self_check
from bench.procs import Registry
from bench.stack import Stack


def test_fake_upstream_passes_its_self_check(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    try:
        port = Stack(registry, tmp_path).start_upstream(chunks=5)
        assert self_check(port, chunks=5) == []
    finally:
        registry.stop_all()


def test_one_second_scenarios_through_the_real_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "report"
    code = main(["--routes", "openai", "--ops", "chat,stream", "--concurrency", "2", "--duration", "1",
                 "--warmup", "0.2", "--no-install", "--output", str(out)])
    assert code == 0

    doc = json.loads((out / "benchmarks.json").read_text())
    rows = doc["matrix"]["rows"]
    assert [(r["op"], r["concurrency"]) for r in rows] == [("chat", 2), ("stream", 2)]
    for row in rows:
        for side in ("direct", "gateway"):
            result = row[side]
            assert result["ok"] > 0, (side, result)
            assert result["errors"] == 0 and result["check_failures"] == 0, (side, result)
            assert result["full_checks"] > 0  # bodies were parsed and compared with the upstream's words
            assert result["rps"] > 0 and result["latency_ms"]["p50"] > 0
        assert row["gateway"]["cpu_s_per_1k"]["gateway"] > 0
        assert "latency_p50_added_ms" in row["gateway_overhead"]
    assert rows[1]["gateway"]["ttfb_ms"]["p50"] > 0
    assert doc["matrix"]["memory"]["gateway"]["peak_rss_mb"] > 0
    # the request path stayed up (the ledger is off it: its health is its own tests' business)
    assert not [name for name in doc["matrix"]["died"] if name.startswith(("gateway", "worker", "nats"))]

    markdown = (out / "benchmarks.md").read_text()
    assert re.search(r"\| openai \| chat \| 2 \| [\d,.]+ \| [\d,.]+ \|", markdown)
    assert re.search(r"\| openai \| 2 \| [\d,.]+ \| [\d,.]+ \|", markdown)
    assert "## Latency and throughput" in markdown and "CPU seconds per 1,000 requests" in markdown


def test_one_deployment_against_three_interleaved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "report"
    code = main(["--deployments", "--concurrency", "2", "--duration", "1", "--warmup", "0.2", "--no-install",
                 "--output", str(out)])
    assert code == 0
    rows = json.loads((out / "benchmarks.json").read_text())["deployments"]["rows"]
    assert [(r["op"], r["concurrency"]) for r in rows] == [("chat", 2), ("stream", 2)]
    for row in rows:
        one, three = row["one"], row["three"]
        assert one["errors"] == 0 and one["check_failures"] == 0 and one["full_checks"] > 0
        # both models answered, about equally often (they alternate on every connection)
        assert one["ok"] > 0 and three["ok"] > 0 and abs(one["ok"] - three["ok"]) <= 2
        assert three["latency_ms"]["p50"] > 0
    assert "## One deployment or three (issue 16)" in (out / "benchmarks.md").read_text()


def test_metered_and_unmetered_keys_in_one_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "report"
    code = main(["--metered-key", "--routes", "openai", "--concurrency", "2", "--duration", "0.5", "--warmup", "0.1",
                 "--rounds", "1", "--no-install", "--output", str(out)])
    assert code == 0
    doc = json.loads((out / "benchmarks.json").read_text())
    rows = doc["credit"]["rows"]
    assert [(r["key"], r["concurrency"]) for r in rows] == [("unmetered", 2), ("metered", 2)]
    for row in rows:
        result = row["gateway"]
        assert result["ok"] > 0 and result["errors"] == 0 and result["check_failures"] == 0, row
    markdown = (out / "benchmarks.md").read_text()
    assert "## Metered vs unmetered key" in markdown
    assert re.search(r"\| 2 \| [\d.]+ \| [\d.]+ \| -?[\d.]+ \|", markdown)  # the ratios
