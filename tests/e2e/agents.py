"""The real agents (Claude Code, Codex) the end-to-end tests drive: installed or not.

`scripts/test` installs them into the venv with npm and only warns when that fails. Where
npm is missing the tests skip, saying why; but under CI (`CI=true`) with npm present a
missing agent means the install failed, and the tests fail instead of going quietly green.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def strict() -> bool:
    """Whether a missing agent is a failure: CI, where npm could have installed it."""
    return os.environ.get("CI", "").lower() == "true" and shutil.which("npm") is not None


def require(binary: Path, reason: str) -> None:
    """Skip (or, under `strict()`, fail) the calling test when `binary` is not installed."""
    if binary.exists():
        return
    if strict():
        pytest.fail(f"{reason}; CI=true and npm is present, so scripts/test's npm install failed",
                    pytrace=False)
    pytest.skip(reason)
