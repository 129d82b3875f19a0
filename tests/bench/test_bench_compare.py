"""Smoke test of `scripts/bench --compare REF`: HEAD checked out in a temporary worktree and
this checkout, one round each, one tiny scenario, through the real stacks.

No timing thresholds: only that both sides ran, served requests and spent CPU, that the
report names both commits, and that the temporary worktree is gone afterwards.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.procs import ROOT
from bench.trees import git_available

pytestmark = pytest.mark.skipif(bool(git_available()), reason=f"--compare needs git: {git_available()}")


def _worktrees() -> set[str]:
    listed = subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout
    return {line.split(" ", 1)[1] for line in listed.splitlines() if line.startswith("worktree ")}


def test_compare_with_head_runs_both_sides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "report"
    before = _worktrees()
    code = main(["--compare", "HEAD", "--rounds", "1", "--routes", "openai", "--ops", "chat", "--concurrency", "1",
                 "--duration", "0.5", "--warmup", "0.1", "--no-install", "--output", str(out)])
    assert code == 0
    assert _worktrees() == before  # the temporary worktree was removed

    doc = json.loads((out / "benchmarks-compare.json").read_text())
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    assert doc["sides"]["ref"]["commit"] == head
    [scenario] = doc["scenarios"]
    assert scenario["scenario"] == "openai chat c=1"
    assert sorted(run["side"] for run in scenario["rounds"]) == ["current", "ref"]
    for run in scenario["rounds"]:
        figures = run["figures"]
        assert figures["requests"] > 0 and figures["errors"] == 0, run
        assert figures["cpu_ms_per_request"]["total"] > 0 and figures["cpu_ms_per_request"]["gateway"] > 0, run
        assert figures["added_p50_ms"] is not None
    assert scenario["ratio"]["cpu_total"] is not None

    markdown = (out / "benchmarks-compare.md").read_text()
    assert f"ref {head}" in markdown and "| openai chat c=1 |" in markdown
