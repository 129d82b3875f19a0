"""The Responses dialect's `prepare`: pass-through where the upstream serves Responses,
chat elsewhere, a continuation's history from the store (workers/dialects/responses/dialect.py)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from gateway.contracts.bus import Job
from gateway.contracts.config import parse
from gateway.contracts.errors import APIError
from workers.dialects import Converted, Direct
from workers.dialects.responses.dialect import ResponsesDialect
from workers.dialects.responses.output import ResponsesOutput
from workers.dialects.responses.passthrough import RelayOutput
from workers.job import Route, resolve
from workers.providers import load
from workers.upstream import Upstream

CONFIG = parse("""
[providers.native]
kind = "openai"
base_url = "http://native.invalid/v1"
responses = true
[providers.plain]
kind = "openai"
base_url = "http://plain.invalid/v1"
[[models]]
id = "m"
provider = "native"
""")
ROUTES = {name: Route(name, load("openai"), Upstream(name, config), config) for name, config in CONFIG.providers.items()}


def job(provider: str, body: dict[str, object]) -> Job:
    return Job(request_id="r1", key_id="k", op="chat", model="m", provider=provider, upstream_model="up",
               body=msgspec.json.encode(body), deadline=0.0, dialect="responses", stream=True)


def prepare(provider: str, body: dict[str, object]) -> Direct | Converted:
    route, target = resolve(ROUTES, job(provider, body))
    return asyncio.run(ResponsesDialect(None).prepare(job(provider, body), route, target, 1))


def test_an_upstream_serving_responses_gets_them_as_sent() -> None:
    plan = prepare("native", {"model": "m", "input": "hi"})
    assert isinstance(plan, Direct) and isinstance(plan.output, RelayOutput)
    assert plan.request.url == "http://native.invalid/v1/responses" and plan.request.stream
    assert plan.prompt_estimate > 0


def test_every_other_upstream_gets_chat_and_the_answer_leaves_as_responses() -> None:
    plan = prepare("plain", {"model": "m", "input": "hi"})
    assert isinstance(plan, Converted) and isinstance(plan.output, ResponsesOutput)
    assert plan.chat.messages[0].content == "hi"


def test_a_continuation_needs_the_store() -> None:
    with pytest.raises(APIError) as raised:
        prepare("plain", {"model": "m", "input": "hi", "previous_response_id": "resp_1"})
    assert raised.value.status == 503
