"""The real Codex CLI (`codex exec`) through the gateway: a turn that calls a tool, on every route.

Codex speaks only the Responses API (it refuses `wire_api = "chat"`), streams, sends
`store: false` and its own tools (function tools, a `namespace` of sub-agent tools and,
unless disabled, the built-in `web_search`). scripts/test installs it when npm is here
(without npm the test skips; under `CI=true` with npm present it fails: tests/e2e/agents.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import agents
from tests.e2e.responses.conftest import ROUTES
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_responses import FakeOpenAIResponses
from tests.harness.procs import wait_until
from tests.harness.stack import Stack

CODEX = agents.binary("codex")  # the venv's, or TEST_CODEX_PREFIX's (scripts/compat)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: Codex cannot run"),
    pytest.mark.usefixtures("installed"),
]
# USD per 1M tokens (input, output) of the routes, as responses/conftest.py's CONFIG says
# (no cached price there: cached tokens cost the input price)
PRICES = {"gpt-conv": ("1.0", "2.0"), "qwen-r": ("1.0", "2.0"), "gpt-native": ("1.0", "2.0"), "claude-r": ("3.0", "15.0"),
          "gemini-r": ("0.3", "2.5")}


@pytest.fixture
def installed() -> None:
    agents.require_pinned("codex")


def ledger_rows(stack: Stack, key_name: str) -> list[sqlite3.Row]:
    """The key's rows in the ledger's database."""
    with sqlite3.connect(stack.workdir / "data" / "ledger.sqlite3") as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM usage WHERE key_name = ? ORDER BY started_at",
                            (key_name,)).fetchall()


def codex_config(base_url: str, model: str) -> str:
    """What README.md shows: a provider pointing at the gateway, the key in an env var.
    Codex's default `web_search` tool stays on: every route takes it (issue 21)."""
    return (f'model = "{model}"\nmodel_provider = "gateway"\n\n'
            "[model_providers.gateway]\n"
            'name = "LLM gateway"\n'
            f'base_url = "{base_url}"\n'
            'env_key = "GATEWAY_API_KEY"\n'
            'wire_api = "responses"\n')


def assert_web_search_sent(model: str, turn: dict[str, Any]) -> None:
    """Codex's web_search as the route's upstream got it: Claude's server search; left out
    where the route has none that takes it beside Codex's function tools (chat, Gemini)."""
    tools = json.dumps(turn.get("tools"))
    if model == "claude-r":
        assert tools.count('"web_search_20250305"') == 1
    elif model != "gpt-native":
        assert "web_search" not in tools and "googleSearch" not in tools


# qwen-r: a vLLM-served model that refuses the `developer` role Codex sends its
# instructions in (issue 21 item 4): they go as `system`.
@pytest.mark.parametrize("model", [*ROUTES, "qwen-r"])
def test_codex_exec_completes_a_turn_that_calls_a_tool(
    responses_stack: Stack, fake_responses: FakeOpenAIResponses,
    fake_anthropic: FakeAnthropic, fake_gemini: FakeGemini, tmp_path: Path, model: str,
) -> None:
    key_name = f"codex-{model}"
    key = responses_stack.create_key(key_name)  # its own key: its ledger rows are this run's alone
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(codex_config(responses_stack.base_url, model))
    work = tmp_path / "work"
    work.mkdir()
    marker = f"codex-turn-{model}"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "CODEX_HOME": str(home),
           "GATEWAY_API_KEY": key, "NO_COLOR": "1"}
    done = subprocess.run([str(CODEX), "exec", "--skip-git-repo-check", f"#scenario tools {marker}"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr

    fake: Any = {"claude-r": fake_anthropic, "gemini-r": fake_gemini}.get(model, fake_responses)
    turns = [json.loads(r.body) for r in fake.received if marker.encode() in r.body]
    assert len(turns) == 2, f"expected a tool call and an answer, got {len(turns)} upstream calls"
    last = json.dumps(turns[1])
    # the second call carries the tool's result back, in the upstream's own protocol
    assert {"claude-r": '"tool_result"', "gemini-r": '"functionResponse"', "gpt-conv": '"role": "tool"',
            "qwen-r": '"role": "tool"', "gpt-native": '"function_call_output"'}[model] in last
    final = {"claude-r": "Tool results", "gemini-r": "Tool results", "gpt-conv": "The weather is",
             "qwen-r": "The weather is", "gpt-native": "Tool said"}[model]
    assert final in done.stdout, done.stdout + done.stderr
    if model == "qwen-r":
        assert all("developer" not in {m["role"] for m in turn["messages"]} for turn in turns)
        assert turns[0]["messages"][0]["role"] == "system"
    if model == "gpt-native":
        assert {"type": "web_search", "external_web_access": False} in turns[0]["tools"]  # passed through
        assert turns[0]["stream"] is True and turns[0]["store"] is False
    assert_web_search_sent(model, turns[0])

    # One ledger row per upstream turn, billed at the route's price.
    wait_until(lambda: len(ledger_rows(responses_stack, key_name)) >= 2, 15, "a ledger row per turn")
    rows = ledger_rows(responses_stack, key_name)
    assert len(rows) == 2 and len({r["request_id"] for r in rows}) == 2
    assert {(r["model"], r["status"], r["source"], r["estimated"]) for r in rows} == {(model, "ok", "worker", 0)}
    price_in, price_out = (Decimal(p) for p in PRICES[model])
    for row in rows:
        assert row["total_tokens"] == row["prompt_tokens"] + row["completion_tokens"], dict(row)
        cost = (row["prompt_tokens"] * price_in + row["completion_tokens"] * price_out).to_integral_value(
            rounding=ROUND_HALF_EVEN)
        assert row["cost_micro_usd"] == int(cost), dict(row)
    # ...and their tokens are what Codex was told: it prints the uncached tokens of the session
    told = re.search(r"^tokens used\n([\d,]+)$", done.stdout + done.stderr, re.M)
    assert told is not None, done.stdout + done.stderr
    assert int(told.group(1).replace(",", "")) == sum(r["total_tokens"] - r["cached_tokens"] for r in rows)


def test_codex_exec_shows_claudes_web_search(
    responses_stack: Stack, fake_anthropic: FakeAnthropic, tmp_path: Path,
) -> None:
    """Codex's default web_search on a Claude route: Claude searches, Codex gets the web_search_call."""
    key = responses_stack.create_key("codex-search")
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(codex_config(responses_stack.base_url, "claude-r"))
    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "CODEX_HOME": str(home),
           "GATEWAY_API_KEY": key, "NO_COLOR": "1"}
    done = subprocess.run([str(CODEX), "exec", "--skip-git-repo-check", "#scenario web_search codex-search"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    turns = [json.loads(r.body) for r in fake_anthropic.received if b"codex-search" in r.body]
    assert len(turns) == 1 and turns[0]["tools"][0] == {"type": "web_search_20250305", "name": "web_search"}
    out = done.stdout + done.stderr
    # Codex prints the search (its query: the fake's echo of the last user turn), then Claude's answer.
    assert "web search: " in out and "Searched: " in out.split("web search: ", 1)[1], out
