"""`/v1/messages` end to end with the official `anthropic` SDK (issue 13).

The same tests run against three routes: a Claude route (pass-through to the fake
Anthropic), an OpenAI-kind route and a Gemini route (converted through the chat shape).
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest

from tests.harness.stack import Stack

ROUTES = ["msg-claude", "msg-openai", "msg-gemini"]
WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def claude(stack: Stack, api_key: str) -> anthropic.Anthropic:
    """The official Anthropic SDK pointed at the gateway (no retries: statuses as they are)."""
    root = stack.base_url.removesuffix("/v1")
    return anthropic.Anthropic(base_url=root, api_key=api_key, max_retries=0, timeout=20)


def text_of(message: anthropic.types.Message) -> str:
    """The text blocks of a reply, joined."""
    return "".join(b.text for b in message.content if b.type == "text")


@pytest.mark.parametrize("model", ROUTES)
def test_create_answers_a_message_with_usage(claude: anthropic.Anthropic, model: str) -> None:
    message = claude.messages.create(
        model=model, max_tokens=200, system="Be brief.",
        messages=[{"role": "user", "content": "hello there"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.model == model
    assert "hello there" in text_of(message)
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


@pytest.mark.parametrize("model", ROUTES)
def test_stream_yields_the_event_sequence_and_the_final_message(claude: anthropic.Anthropic, model: str) -> None:
    with claude.messages.stream(
        model=model, max_tokens=200, messages=[{"role": "user", "content": "stream me please"}],
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert "stream me please" in text_of(final)
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0


@pytest.mark.parametrize("model", ROUTES)
@pytest.mark.parametrize("streamed", [False, True])
def test_a_tool_use_loop_with_a_tool_result(claude: anthropic.Anthropic, model: str, streamed: bool) -> None:
    messages: list[Any] = [{"role": "user", "content": "#scenario tools"}]

    def ask() -> anthropic.types.Message:
        if not streamed:
            return claude.messages.create(model=model, max_tokens=300, tools=[WEATHER_TOOL], messages=messages)
        with claude.messages.stream(model=model, max_tokens=300, tools=[WEATHER_TOOL], messages=messages) as s:
            return s.get_final_message()

    first = ask()
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input, dict) and "city" in call.input
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]})
    messages.append({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21 C"}]})
    second = ask()
    assert second.stop_reason == "end_turn"
    assert "sunny, 21 C" in text_of(second)


def test_count_tokens_is_anthropics_own_on_a_claude_route(claude: anthropic.Anthropic) -> None:
    count = claude.messages.count_tokens(model="msg-claude", messages=[{"role": "user", "content": "count these words"}])
    assert count.input_tokens > 0


@pytest.mark.parametrize("model", ["msg-openai", "msg-gemini"])
def test_count_tokens_is_an_estimate_elsewhere(claude: anthropic.Anthropic, model: str) -> None:
    short = claude.messages.count_tokens(model=model, messages=[{"role": "user", "content": "hi"}])
    long = claude.messages.count_tokens(
        model=model, system="x" * 400, tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "hi " * 100}],
    )
    assert short.input_tokens >= 1
    assert long.input_tokens > short.input_tokens + 150


def test_claude_codes_own_ids_map_through_aliases(claude: anthropic.Anthropic) -> None:
    for alias, model in [("claude-sonnet-4-6", "msg-openai"), ("claude-haiku-4-5-20251001", "msg-openai"),
                         ("claude-opus-4-8", "msg-claude")]:
        message = claude.messages.create(model=alias, max_tokens=50, messages=[{"role": "user", "content": "hi"}])
        assert message.model == model


def test_an_unknown_model_is_a_not_found_error(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 404
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "not_found_error" and "no-such-model" in body["error"]["message"]


def test_a_bad_key_is_an_authentication_error(stack: Stack) -> None:
    client = anthropic.Anthropic(base_url=stack.base_url.removesuffix("/v1"), api_key="nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(model="msg-openai", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 401
    assert isinstance(caught.value.body, dict) and caught.value.body["error"]["type"] == "authentication_error"


def test_an_invalid_body_is_a_bad_request_naming_the_field(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(model="msg-openai", max_tokens=10, extra_body={"temperature": 1.5},
                               messages=[{"role": "user", "content": "hi"}])
    body = caught.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error"
    assert "temperature" in body["error"]["message"]


def test_bearer_auth_and_the_models_list_in_anthropics_shape(stack: Stack, api_key: str) -> None:
    root = stack.base_url.removesuffix("/v1")
    client = anthropic.Anthropic(base_url=root, auth_token=api_key, max_retries=0)
    ids = [m.id for m in client.models.list()]
    assert "msg-claude" in ids and "msg-openai" in ids
    one = client.models.retrieve("msg-gemini")
    assert one.type == "model" and one.id == "msg-gemini"
    message = client.messages.create(model="msg-openai", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert message.type == "message"


def test_head_root_is_answered(stack: Stack) -> None:
    response = httpx.head(stack.base_url.removesuffix("/v1") + "/")
    assert response.status_code == 200


def test_an_upstream_rate_limit_is_a_rate_limit_error(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        claude.messages.create(model="msg-openai", max_tokens=10,
                               messages=[{"role": "user", "content": "#scenario rate_limited"}])
    assert caught.value.response.headers.get("retry-after") == "7"
    assert isinstance(caught.value.body, dict) and caught.value.body["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("model", ["msg-claude", "msg-openai"])
def test_a_failure_mid_stream_raises_the_sdks_error(claude: anthropic.Anthropic, model: str) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        with claude.messages.stream(model=model, max_tokens=100,
                                    messages=[{"role": "user", "content": "#scenario stream_error"}]) as s:
            for _ in s:
                pass
    assert "error" in json.dumps(caught.value.body)
