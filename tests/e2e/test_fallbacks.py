"""Fallback models are tried only before the first byte (PITFALLS 16)."""

from __future__ import annotations

import openai
import pytest

from tests.harness.stack import Stack


def test_upstream_failure_falls_back_through_the_list(client: openai.OpenAI, stack: Stack) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-with-fallback", messages=[{"role": "user", "content": "#scenario error_500"}]
    )
    reply = raw.parse()
    # gpt-upstream failed (502), ghost-model-2 has no key (404 model_unavailable), echo answered
    assert reply.model == "echo"
    assert reply.choices[0].message.content == "#scenario error_500"
    request_id = raw.headers["x-request-id"]
    event = stack.usage_for(f"{request_id}-f2")
    assert event.model == "echo" and event.status == "ok"


def test_caller_errors_are_not_retried_on_a_fallback(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-with-fallback", messages=[{"role": "user", "content": "#scenario error_400"}])


def test_no_fallback_once_the_stream_has_started(client: openai.OpenAI) -> None:
    received = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(
            model="gpt-with-fallback", messages=[{"role": "user", "content": "#scenario midstream a b c d"}], stream=True
        ):
            received.append(chunk)
    assert received and {c.model for c in received} == {"gpt-with-fallback"}
