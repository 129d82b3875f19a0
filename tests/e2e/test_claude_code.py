"""The real agent: Claude Code (`claude -p`) through the gateway to each kind of upstream.

`scripts/test` installs the pinned `@anthropic-ai/claude-code` into the venv when node and
npm are present; without them these tests skip, saying why. Claude Code runs offline:
`ANTHROPIC_BASE_URL` is the gateway, `ANTHROPIC_API_KEY` a gateway key, and a fake
upstream answers its first turn with a call of its own `Read` tool (the `call` scenario),
then quotes the tool's result, so a finished turn proves the whole tool loop ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.harness.stack import Stack

CLAUDE_CODE_VERSION = "2.1.197"  # the version scripts/test installs
CLAUDE = Path(sys.prefix) / "claude-code" / "node_modules" / ".bin" / "claude"
SECRET = "gateway-word-7f3a"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CLAUDE.exists(), reason=(
        f"Claude Code is not installed at {CLAUDE.parent}: scripts/test installs "
        f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION} there when node and npm are present")),
]


def run_claude(stack: Stack, key: str, workdir: Path, prompt: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`claude -p PROMPT ARGS` against the gateway, with a home of its own (no user config)."""
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": str(home), "USERPROFILE": str(home),
        "ANTHROPIC_BASE_URL": stack.base_url.removesuffix("/v1"), "ANTHROPIC_API_KEY": key,
        "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    command = [str(CLAUDE), "-p", prompt, "--output-format", "json", "--allowedTools", "Read",
               "--max-turns", "4", *args]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("route", "args"), [
    ("claude", ()),  # Claude Code's own default model id, an alias of the Claude route
    ("openai", ("--model", "claude-sonnet-4-6")),  # an alias of the OpenAI-kind route
    ("gemini", ("--model", "msg-gemini")),
])
def test_claude_code_finishes_a_turn_that_calls_a_tool(
    stack: Stack, api_key: str, fake_anthropic: FakeAnthropic, tmp_path: Path, route: str, args: tuple[str, ...],
) -> None:
    note = tmp_path / "note.txt"
    note.write_text(f"The word is {SECRET}.\n")
    directive = json.dumps({"Read": {"file_path": str(note)}}, separators=(",", ":"))
    sent_before = len(fake_anthropic.bodies)
    done = run_claude(stack, api_key, tmp_path, f"Read the note, please.\n#scenario call {directive}", *args)
    assert done.returncode == 0, f"claude failed:\nstdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["is_error"] is False and result["subtype"] == "success"
    assert result["num_turns"] >= 2  # the tool call, then the answer
    # The fake quotes the tool result: Claude Code read the file through its Read tool.
    assert SECRET in result["result"]
    bodies = fake_anthropic.bodies[sent_before:]
    if route == "claude":
        # Pass-through: Claude Code's own body (its tools, system, thinking) reached Anthropic.
        assert any(len(b.get("tools") or []) > 5 and b["model"] == "claude-opus-4-6" for b in bodies)
    else:
        assert not any(SECRET in json.dumps(b) for b in bodies)
