"""The pinned agents (scripts/_agents.sh): installed where the end-to-end tests look, at the pin.

Issue 21: in CI, where npm is present, a failed agent install must stop the run rather than
let the agent tests skip; on a developer's machine it only warns. `npm` here is a stand-in
on PATH, so these run without a network.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e import agents
from tests.harness.procs import ROOT


def fake_npm(folder: Path, exit_code: int) -> Path:
    """A stand-in `npm` that logs its arguments and exits with `exit_code`."""
    folder.mkdir()
    npm = folder / "npm"
    npm.write_text(f'#!/bin/sh\necho "$@" >> "{folder}/calls"\nexit {exit_code}\n')
    npm.chmod(0o755)
    return folder / "calls"


def install(tmp_path: Path, ci: str) -> subprocess.CompletedProcess[str]:
    """`install_pinned_agents` into a venv folder under tmp_path, the stand-in npm first on PATH."""
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "CI": ci,
           "VENV": str(tmp_path / "venv")}
    script = f'. "{ROOT / "scripts" / "_agents.sh"}"; install_pinned_agents; echo carried on'
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(("ci", "fatal"), [("true", True), ("", False)])
def test_a_failed_agent_install_stops_ci_and_only_warns_elsewhere(tmp_path: Path, ci: str, fatal: bool) -> None:
    calls = fake_npm(tmp_path / "bin", 1)
    done = install(tmp_path, ci)
    if fatal:
        assert done.returncode == 1 and "carried on" not in done.stdout
        assert f"error: @anthropic-ai/claude-code@{agents.pin('claude')} did not install" in done.stderr
    else:
        assert done.returncode == 0 and "carried on" in done.stdout
        assert done.stderr.count("did not install; its end-to-end tests will skip") == 2
        assert f"@openai/codex@{agents.pin('codex')}" in calls.read_text()


def test_an_agent_already_at_its_pin_is_not_reinstalled(tmp_path: Path) -> None:
    calls = fake_npm(tmp_path / "bin", 0)
    for agent, folder in (("claude", "claude-code"), ("codex", "node-agents")):
        package = tmp_path / "venv" / folder / "node_modules" / agents.AGENTS[agent][2] / "package.json"
        package.parent.mkdir(parents=True)
        package.write_text(json.dumps({"version": agents.pin(agent)}, indent=2))
    done = install(tmp_path, "true")
    assert done.returncode == 0 and not calls.exists(), done.stderr


def test_the_harness_variable_points_the_tests_at_another_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "node_modules" / "@anthropic-ai" / "claude-code" / "package.json"
    package.parent.mkdir(parents=True)
    package.write_text('{"version": "2.0.1"}')
    monkeypatch.setenv("TEST_CLAUDE_CODE_PREFIX", str(tmp_path))
    assert agents.binary("claude") == tmp_path / "node_modules" / ".bin" / "claude"
    assert agents.version("claude") == "2.0.1"
    monkeypatch.delenv("TEST_CLAUDE_CODE_PREFIX")
    assert agents.prefix("claude").name == "claude-code" and agents.prefix("claude") != tmp_path


def test_an_agent_installed_at_another_version_than_the_pin_is_not_taken_for_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agents, "prefix", lambda agent: tmp_path)
    (tmp_path / "node_modules" / ".bin").mkdir(parents=True)
    (tmp_path / "node_modules" / ".bin" / "codex").touch()
    package = tmp_path / "node_modules" / "@openai" / "codex" / "package.json"
    package.parent.mkdir(parents=True)
    package.write_text('{"version": "0.1.0"}')
    monkeypatch.setenv("CI", "false")
    monkeypatch.delenv("TEST_CODEX_PREFIX", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"@openai/codex 0.1.0 is installed .* not the pinned {agents.pin('codex')}"):
        agents.require_pinned("codex")
    monkeypatch.setenv("TEST_CODEX_PREFIX", str(tmp_path))  # scripts/compat's own choice: no pin to meet
    agents.require_pinned("codex")
