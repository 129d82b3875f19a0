"""Anthropic Message -> ChatCompletion (PITFALLS 3, 7, 12, 15)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.contracts.openai import JSON_ENCODER, ChatCompletion
from workers.providers.anthropic.response import to_chat_result
from workers.providers.anthropic.tools import decode_call_id
from workers.providers.anthropic.schema import ThinkingBlock
from workers.providers.base import ReplyContext, UpstreamError

FIXTURES = Path(__file__).parents[3] / "fixtures" / "anthropic"


def _ctx(choice_index: int = 0) -> ReplyContext:
    return ReplyContext("chatcmpl-abc", 1741570283, "claude-sonnet", lambda prefix: f"{prefix}_1", choice_index)


def _convert(body: bytes, choice_index: int = 0) -> dict[str, Any]:
    result = to_chat_result(body, _ctx(choice_index))
    assert isinstance(result.body, ChatCompletion)
    return json.loads(JSON_ENCODER.encode(result.body))


def _message(content: list[dict[str, Any]], stop_reason: str = "end_turn") -> bytes:
    return json.dumps({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": content, "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }).encode()


def test_text_reply_becomes_one_choice_with_our_id_created_and_model() -> None:
    assert _convert((FIXTURES / "message_text.json").read_bytes()) == {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1741570283,
        "model": "claude-sonnet",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi! My name is Claude.", "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 2095, "completion_tokens": 503, "total_tokens": 2598, "prompt_tokens_details": {"cached_tokens": 0}},
    }


def test_choice_index_comes_from_the_context_for_n_fan_out() -> None:
    assert _convert((FIXTURES / "message_text.json").read_bytes(), choice_index=3)["choices"][0]["index"] == 3


def test_tool_use_becomes_tool_calls_with_anthropics_id_and_json_arguments() -> None:
    choice = _convert((FIXTURES / "message_tool_use.json").read_bytes())["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "I'll check the current weather in San Francisco for you.",
        "refusal": None,
        "tool_calls": [
            {
                "id": "toolu_01A09q90qw90lq917835lq9",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location":"San Francisco, CA","unit":"celsius"}'},
            }
        ],
    }


def test_thinking_never_reaches_content_and_rides_in_the_first_call_id() -> None:
    choice = _convert((FIXTURES / "message_thinking_tools.json").read_bytes())["choices"][0]
    message = choice["message"]
    assert message["content"] == "Let me look both up."
    assert message["reasoning_content"] == (
        "The user wants the weather and the time in Paris. I can call both tools at once."
    )
    calls = message["tool_calls"]
    assert [c["function"] for c in calls] == [
        {"name": "get_weather", "arguments": '{"location":"Paris"}'},
        {"name": "get_time", "arguments": "{}"},
    ]
    assert decode_call_id(calls[0]["id"]) == (
        "toolu_01WeatherCall",
        [ThinkingBlock(
            "The user wants the weather and the time in Paris. I can call both tools at once.",
            "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds",
        )],
    )
    assert calls[1]["id"] == "toolu_01TimeCall"
    assert choice["finish_reason"] == "tool_calls"


def test_only_tool_calls_gives_null_content() -> None:
    body = _message([{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}], "tool_use")
    assert _convert(body)["choices"][0]["message"]["content"] is None


def test_redacted_thinking_is_not_shown_but_travels_with_the_call() -> None:
    body = _message([
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
    ], "tool_use")
    message = _convert(body)["choices"][0]["message"]
    assert "reasoning_content" not in message
    assert decode_call_id(message["tool_calls"][0]["id"])[1][0].data == "EmwKAhgBEgy3va3pzix"  # type: ignore[union-attr]


def test_json_mode_tool_input_is_the_content_and_finish_is_stop() -> None:
    body = _message([{"type": "tool_use", "id": "toolu_1", "name": "json_response", "input": {"name": "Ada", "age": 36}}], "tool_use")
    choice = _convert(body)["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": '{"name":"Ada","age":36}', "refusal": None}
    assert choice["finish_reason"] == "stop"


@pytest.mark.parametrize(("stop_reason", "finish"), [("max_tokens", "length"), ("refusal", "content_filter"), ("stop_sequence", "stop")])
def test_stop_reasons_become_finish_reasons(stop_reason: str, finish: str) -> None:
    assert _convert(_message([{"type": "text", "text": "partial"}], stop_reason))["choices"][0]["finish_reason"] == finish


def test_empty_reply_has_empty_string_content() -> None:
    assert _convert(_message([], "end_turn"))["choices"][0]["message"]["content"] == ""


def test_cache_tokens_count_in_prompt_tokens_once() -> None:
    result = to_chat_result((FIXTURES / "message_cached.json").read_bytes(), _ctx())
    assert result.usage.prompt_tokens == 2098
    assert result.usage.cached_tokens() == 1800
    assert result.usage.total_tokens == 2110


@pytest.mark.parametrize("body", [b"not json", b'{"content": "oops"}', b'{"content": [{"type": "text"}]}'])
def test_malformed_reply_is_a_502(body: bytes) -> None:
    with pytest.raises(UpstreamError) as info:
        to_chat_result(body, _ctx())
    assert info.value.status == 502
    assert info.value.error.message.startswith("anthropic upstream sent a malformed message")
