"""The real agents (Claude Code, Codex) the end-to-end tests drive: where they are, installed or not.

`scripts/test` installs them into the venv with npm; where that fails under CI it stops.
Where npm is missing the tests skip, saying why; but under CI (`CI=true`) with npm present a
missing agent means the install failed, and the tests fail instead of going quietly green.

`scripts/compat` runs the same tests against other versions: it installs each into an npm
prefix of its own and names that prefix in a test-harness variable (read here only, never
by the product), `TEST_CLAUDE_CODE_PREFIX` or `TEST_CODEX_PREFIX`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.harness.procs import ROOT

# agent -> (the harness variable naming its npm prefix, the venv's default prefix, its npm
# package, its pin's name in scripts/_agents.sh)
AGENTS = {
    "claude": ("TEST_CLAUDE_CODE_PREFIX", "claude-code", "@anthropic-ai/claude-code", "CLAUDE_CODE_VERSION"),
    "codex": ("TEST_CODEX_PREFIX", "node-agents", "@openai/codex", "CODEX_VERSION"),
}


def pin(agent: str) -> str:
    """The version of `agent` scripts/test installs (its pin in scripts/_agents.sh)."""
    text = (ROOT / "scripts" / "_agents.sh").read_text(encoding="utf-8")
    found = re.search(rf'^{AGENTS[agent][3]}="([^"]+)"$', text, re.M)
    assert found is not None, f"scripts/_agents.sh pins no {AGENTS[agent][3]}"
    return found.group(1)


def prefix(agent: str) -> Path:
    """The npm prefix `agent` is installed in: the harness variable's, else the venv's."""
    variable, default = AGENTS[agent][:2]
    return Path(os.environ.get(variable) or Path(sys.prefix) / default)


def binary(agent: str) -> Path:
    """The agent's command (`claude` or `codex`) in its npm prefix."""
    return prefix(agent) / "node_modules" / ".bin" / agent


def version(agent: str) -> str | None:
    """The installed version of `agent`, from its package.json; None when not installed."""
    package = prefix(agent) / "node_modules" / AGENTS[agent][2] / "package.json"
    try:
        found = json.loads(package.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        return None
    return found if isinstance(found, str) else None


def strict() -> bool:
    """Whether a missing agent is a failure: CI, where npm could have installed it."""
    return os.environ.get("CI", "").lower() == "true" and shutil.which("npm") is not None


def require(binary: Path, reason: str) -> None:
    """Skip (or, under `strict()`, fail) the calling test when `binary` is not installed."""
    if not binary.exists():
        missing(reason)


def missing(reason: str) -> None:
    """Skip the calling test, saying why; under `strict()`, fail it instead."""
    if strict():
        pytest.fail(f"{reason}; CI=true and npm is present, so scripts/test's npm install failed",
                    pytrace=False)
    pytest.skip(reason)


def require_pinned(agent: str) -> None:
    """`require` the agent, and at its pin unless scripts/compat chose the version: a venv
    still holding an older release would otherwise pass for the pinned one."""
    variable, _, package, _ = AGENTS[agent]
    where, wanted = prefix(agent), pin(agent)
    require(binary(agent), f"{package} is not installed in {where}: scripts/test installs {package}@{wanted} "
                           "there when node and npm are present")
    found = version(agent)
    if not os.environ.get(variable) and found != wanted:
        missing(f"{package} {found} is installed in {where}, not the pinned {wanted}: scripts/test installs the pin")
