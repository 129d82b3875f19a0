"""The dialect's choices by provider kind: pass through to Anthropic, convert elsewhere."""

from __future__ import annotations

import msgspec

from gateway.contracts.anthropic_messages import CountTokensResponse
from gateway.contracts.bus import Job
from workers.dialects import load
from workers.dialects.messages import DIALECT
from workers.providers.base import Target

TARGET = Target(base_url="http://u", api_key="k", upstream_model="up", public_model="pub")


def job(body: dict[str, object], op: str = "chat") -> Job:
    return Job(request_id="r1", key_id="k", op=op, model="pub", provider="p", upstream_model="up",
               body=msgspec.json.encode(body), deadline=0.0, dialect="messages")


def test_the_loader_finds_the_dialect_by_the_jobs_name() -> None:
    assert load("messages") is DIALECT


def test_only_an_anthropic_kind_upstream_is_passed_through() -> None:
    body = {"model": "x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    direct = DIALECT.pass_through("anthropic", job(body), TARGET)
    assert direct is not None and direct.request.url == "http://u/v1/messages"
    assert DIALECT.pass_through("openai", job(body), TARGET) is None
    assert DIALECT.to_chat(job(body), TARGET).model == "pub"


def test_count_tokens_goes_to_anthropic_or_is_estimated() -> None:
    body = {"model": "x", "messages": [{"role": "user", "content": "word " * 40}]}
    request = DIALECT.count_tokens("anthropic", job(body, "count_tokens"), TARGET)
    assert request is not None and request.url == "http://u/v1/messages/count_tokens"
    assert DIALECT.count_tokens("gemini", job(body, "count_tokens"), TARGET) is None
    estimate = DIALECT.estimate_tokens(job(body, "count_tokens"), TARGET)
    assert isinstance(estimate, CountTokensResponse) and estimate.input_tokens == 50
