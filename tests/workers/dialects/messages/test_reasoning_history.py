"""Thinking in a Messages history is not sent to OpenAI-kind routes as `reasoning_content`
(audit 2026-12-03, finding 7: no chat field; strict OpenAI-compatible servers refuse it),
and tool-use ids longer than OpenAI takes (a Gemini-signed one) become a digest there."""

from __future__ import annotations

import asyncio
import json

import msgspec

from gateway.contracts.bus import Job
from gateway.contracts.config import parse
from workers.dialects import Converted
from workers.dialects.messages import DIALECT
from workers.job import Route, resolve
from workers.providers import load
from workers.upstream import Upstream

CONFIG = parse("""
[providers.oai]
kind = "openai"
base_url = "http://oai.invalid/v1"
[providers.gem]
kind = "gemini"
base_url = "http://gem.invalid"
[[models]]
id = "m"
provider = "oai"
""")
ROUTES = {name: Route(name, load(config.kind), Upstream(name, config), config)
          for name, config in CONFIG.providers.items()}
SIGNED = "call_0a1f_ts_" + "A" * 60  # workers/providers/gemini/signatures.py
BODY = {"model": "m", "max_tokens": 50, "tools": [{"name": "f", "input_schema": {"type": "object"}}], "messages": [
    {"role": "user", "content": "go"},
    {"role": "assistant", "content": [{"type": "thinking", "thinking": "plan", "signature": "sig"},
                                      {"type": "text", "text": "ok"},
                                      {"type": "tool_use", "id": SIGNED, "name": "f", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": SIGNED, "content": "done"}]},
]}


def converted(provider: str) -> Converted:
    job = Job(request_id="r1", key_id="k", op="chat", model="m", provider=provider, upstream_model="up",
              body=msgspec.json.encode(BODY), deadline=0.0, dialect="messages")
    route, target = resolve(ROUTES, job)
    plan = asyncio.run(DIALECT.prepare(job, route, target, 1))
    assert isinstance(plan, Converted)
    return plan


def test_thinking_is_not_sent_back_to_an_openai_kind_route() -> None:
    assistant = json.loads(converted("oai").body)["messages"][1]
    assert assistant["role"] == "assistant" and "reasoning_content" not in assistant


def test_a_tool_use_id_longer_than_openai_takes_is_one_digest_for_the_call_and_its_result() -> None:
    assistant, tool = json.loads(converted("oai").body)["messages"][1:3]
    call_id = assistant["tool_calls"][0]["id"]
    assert len(call_id) <= 40 and tool["tool_call_id"] == call_id != SIGNED


def test_other_converted_routes_still_get_it() -> None:
    assistant, tool = json.loads(converted("gem").body)["messages"][1:3]
    assert assistant["reasoning_content"] == "plan"
    assert assistant["tool_calls"][0]["id"] == SIGNED == tool["tool_call_id"]
