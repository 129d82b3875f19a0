"""House rule 6: gateway, workers and ledger type-check with mypy --strict (config in pyproject)."""

from __future__ import annotations

import subprocess
import sys

from tests.harness.procs import ROOT


def test_mypy_strict_passes_on_gateway_workers_and_ledger() -> None:
    out = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "Success" in out.stdout
