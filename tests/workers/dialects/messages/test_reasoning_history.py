"""Thinking in a Messages history is not sent to OpenAI-kind routes as `reasoning_content`
(audit 2026-12-03, finding 7: no chat field; strict OpenAI-compatible servers refuse it)."""

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
BODY = {"model": "m", "max_tokens": 50, "messages": [
    {"role": "user", "content": "go"},
    {"role": "assistant", "content": [{"type": "thinking", "thinking": "plan", "signature": "sig"},
                                      {"type": "text", "text": "ok"}]},
    {"role": "user", "content": "again"},
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


def test_other_converted_routes_still_get_it() -> None:
    assert json.loads(converted("gem").body)["messages"][1]["reasoning_content"] == "plan"
