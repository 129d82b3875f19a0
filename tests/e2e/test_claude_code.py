"""The real agent: Claude Code (`claude -p`) through the gateway to each kind of upstream.

`scripts/test` installs the pinned `@anthropic-ai/claude-code` (scripts/_agents.sh) into the
venv when node and npm are present; without them these tests skip, saying why (under
`CI=true` with npm present they fail instead: tests/e2e/agents.py); `scripts/compat` points
them at other versions. Claude Code runs offline:
`ANTHROPIC_BASE_URL` is the gateway, `ANTHROPIC_API_KEY` a gateway key, and a fake
upstream answers its first turn with a call of its own `Read` tool (the `call` scenario),
then quotes the tool's result, so a finished turn proves the whole tool loop ran.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import agents
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai import PROMPT_TOKENS, FakeOpenAI
from tests.harness.procs import wait_until
from tests.harness.stack import Stack

CLAUDE = agents.binary("claude")  # the venv's, or TEST_CLAUDE_CODE_PREFIX's (scripts/compat)
SECRET = "gateway-word-7f3a"

pytestmark = pytest.mark.slow


@pytest.fixture
def installed() -> Iterator[None]:
    agents.require_pinned("claude")
    yield


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


# route (the upstream's fake) -> what the second upstream turn must carry: the Read
# tool's result in that upstream's own protocol
ROUTES: dict[str, str] = {
    "claude": '"type": "tool_result"',
    "openai": '"role": "tool"',
    "gemini": '"functionResponse"',
}


@pytest.mark.parametrize(("route", "model", "args"), [
    ("claude", "msg-claude", ()),  # Claude Code's own default model id, an alias of the Claude route
    ("openai", "msg-openai", ("--model", "claude-sonnet-4-6")),  # an alias of the OpenAI-kind route
    ("gemini", "msg-gemini", ("--model", "msg-gemini")),
    # The README's `claude --model gpt-4o-mini` (issue 21 item 2): the fake refuses the
    # reasoning_effort and the 32000 output limit Claude Code would bring, as OpenAI does.
    ("openai", "gpt-4o-mini", ("--model", "gpt-4o-mini")),
])
def test_claude_code_finishes_a_turn_that_calls_a_tool(
    installed: None, stack: Stack, fake_anthropic: FakeAnthropic, fake_openai: FakeOpenAI, fake_gemini: FakeGemini,
    tmp_path: Path, route: str, model: str, args: tuple[str, ...],
) -> None:
    key_name = f"claude-code-{model}"
    key = stack.create_key(key_name)  # its own key: its usage events are this run's alone
    note = tmp_path / "note.txt"
    note.write_text(f"The word is {SECRET}.\n")
    directive = json.dumps({"Read": {"file_path": str(note)}}, separators=(",", ":"))
    fakes: dict[str, Any] = {"claude": fake_anthropic, "openai": fake_openai, "gemini": fake_gemini}
    before = {name: len(fake.received) for name, fake in fakes.items()}
    done = run_claude(stack, key, tmp_path, f"Read the note, please.\n#scenario call {directive}", *args)
    assert done.returncode == 0, f"claude failed:\nstdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["is_error"] is False and result["subtype"] == "success"
    assert result["num_turns"] >= 2  # the tool call, then the answer
    # The fake quotes the tool result: Claude Code read the file through its Read tool.
    assert SECRET in result["result"]

    # The route's fake served both turns (the note's path is in this run's prompt alone);
    # no other upstream saw this run.
    marker = str(note).encode()
    sent = {name: [json.loads(r.body) for r in fake.received[before[name]:] if marker in r.body]
            for name, fake in fakes.items()}
    turns = sent.pop(route)
    assert len(turns) == 2, f"expected the tool call and the answer upstream, got {len(turns)} calls"
    assert sent == {name: [] for name in sent}
    first, second = json.dumps(turns[0]), json.dumps(turns[1])
    tool_result = ROUTES[route]
    assert SECRET not in first and tool_result not in first
    assert SECRET in second and tool_result in second  # the tool's result, in the upstream's protocol
    if route == "claude":
        # Pass-through: Claude Code's own body (its tools, system, thinking) reached Anthropic.
        assert len(turns[0].get("tools") or []) > 5 and turns[0]["model"] == "claude-opus-4-6"

    # One usage event (a ledger row once billed) per turn, with the tokens Claude Code was told.
    def billed() -> list[Any]:
        return [e for e in stack.usage_events() if e.key_name == key_name]

    wait_until(lambda: len(billed()) >= 2, 10, "a usage event per turn")
    events = billed()
    assert len(events) == 2 and len({e.request_id for e in events}) == 2
    assert {(e.model, e.status, e.source, e.estimated) for e in events} == {(model, "ok", "worker", False)}
    told = result["modelUsage"]
    assert len(told) == 1, told
    [figures] = told.values()
    assert sum(e.prompt_tokens for e in events) == (
        figures["inputTokens"] + figures["cacheReadInputTokens"] + figures["cacheCreationInputTokens"])
    assert sum(e.completion_tokens for e in events) == figures["outputTokens"]
    assert all(e.total_tokens == e.prompt_tokens + e.completion_tokens for e in events)
    if route == "openai":
        assert [(e.prompt_tokens, e.cached_tokens) for e in events] == [(PROMPT_TOKENS, 3)] * 2  # the fake's fixed usage
    if model == "gpt-4o-mini":
        assert all(t["model"] == "gpt-4o-mini" and t["max_tokens"] <= 16384 and "reasoning_effort" not in t
                   for t in turns)


def tool_names(route: str, body: dict[str, Any]) -> set[str]:
    """The tools an upstream request declares, in that upstream's own protocol."""
    if route == "claude":
        return {t["name"] for t in body.get("tools") or []}
    if route == "openai":
        return {t["function"]["name"] for t in body.get("tools") or []}
    return {f["name"] for t in body.get("tools") or [] for f in t.get("functionDeclarations") or []}


# Claude Code 2.1.332 defers most of its tools behind its ToolSearch tool (the
# `advanced-tool-use` beta): the search's result is a `tool_reference` block and the found
# tool joins the next request's tools. Anthropic expands the reference, so it passes through
# to Claude; elsewhere Claude Code itself turns it into text and declares every tool in full.
@pytest.mark.parametrize(("route", "model"), [("claude", "msg-claude"), ("openai", "msg-openai"),
                                               ("gemini", "msg-gemini")])
def test_a_tool_search_turn_finishes_on_every_route(
    installed: None, stack: Stack, fake_anthropic: FakeAnthropic, fake_openai: FakeOpenAI, fake_gemini: FakeGemini,
    tmp_path: Path, route: str, model: str,
) -> None:
    key = stack.create_key(f"claude-code-search-{model}")
    marker = f"tool-search-run-{model}"
    directive = json.dumps({"ToolSearch": {"query": "select:WebFetch", "max_results": 1}}, separators=(",", ":"))
    fake: Any = {"claude": fake_anthropic, "openai": fake_openai, "gemini": fake_gemini}[route]
    done = run_claude(stack, key, tmp_path, f"Find the fetch tool ({marker}).\n#scenario call {directive}",
                      "--model", model, "--allowedTools", "ToolSearch")
    assert done.returncode == 0, f"claude failed:\nstdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["is_error"] is False and result["num_turns"] >= 2
    turns = [json.loads(r.body) for r in fake.received if marker.encode() in r.body]
    assert len(turns) == 2, f"expected the search and the answer upstream, got {len(turns)} calls"
    assert "ToolSearch" in tool_names(route, turns[0]) and "WebFetch" not in tool_names(route, turns[0])
    assert "WebFetch" in tool_names(route, turns[1])  # found: declared for the next turn
    if route == "claude":
        [block] = turns[1]["messages"][-1]["content"]
        assert block["type"] == "tool_result" and block["content"] == [{"type": "tool_reference", "tool_name": "WebFetch"}]
    else:
        assert "tool_reference" not in json.dumps(turns[1])


def test_a_missing_agent_skips_but_fails_under_ci_where_npm_is_present(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "claude"
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="not here"):
        agents.require(missing, "not here")
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(shutil, "which", lambda name: "npm" if name == "npm" else None)
    with pytest.raises(pytest.fail.Exception, match="npm install failed"):
        agents.require(missing, "not here")
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no npm: nothing could install it
    with pytest.raises(pytest.skip.Exception, match="not here"):
        agents.require(missing, "not here")
