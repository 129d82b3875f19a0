"""GenerateContentResponse -> ChatCompletion (PITFALLS 3, 12, 13, 15)."""

from __future__ import annotations

import json

from typing import Any

import pytest

from tests.workers.providers.gemini.conftest import as_json, fixture_bytes
from workers.providers.base import ReplyContext, UpstreamError
from workers.providers.gemini.response import to_chat_result


def convert(body: bytes, ctx: ReplyContext) -> Any:
    return as_json(to_chat_result(body, ctx).body)


def test_text_response_becomes_a_whole_chat_completion(ctx: ReplyContext) -> None:
    result = to_chat_result(fixture_bytes("generate_content_text.json"), ctx)
    assert as_json(result.body) == {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gemini-public",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "The capital of France is Paris.",
                    "refusal": None,
                },
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 8,
            "completion_tokens": 31,
            "total_tokens": 39,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 24},
        },
    }
    assert as_json(result.usage) == as_json(result.body)["usage"]
    assert result.estimated is False


# PITFALLS 3, 13
def test_parallel_function_calls_become_tool_calls_with_unique_ids(ctx: ReplyContext) -> None:
    body = convert(fixture_bytes("generate_content_parallel_calls.json"), ctx)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "Checking all three cities.",
        "refusal": None,
        "tool_calls": [
            {
                "id": "call_1_ts_CiQBcsjafFK168IbtVto",  # the signature rides in the id too
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Tokyo"}'},
                "extra_content": {"google": {"thought_signature": "CiQBcsjafFK168IbtVto"}},
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Mumbai"}'},
            },
            {
                "id": "call_3",
                "type": "function",
                "function": {"name": "get_time", "arguments": "{}"},
            },
        ],
    }


def test_tool_calls_only_reply_has_null_content(ctx: ReplyContext) -> None:
    body = b'{"candidates": [{"content": {"parts": [{"functionCall": {"name": "now"}}], "role": "model"}, "finishReason": "STOP"}]}'
    message = convert(body, ctx)["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "now", "arguments": "{}"}}
    ]


def test_candidates_become_choices_by_index(ctx: ReplyContext) -> None:
    body = convert(fixture_bytes("generate_content_two_candidates.json"), ctx)
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in body["choices"]] == [
        (0, "First.", "stop"),
        (1, "Second.", "length"),
    ]
    assert body["usage"]["completion_tokens"] == 4


def test_candidate_without_index_takes_its_position(ctx: ReplyContext) -> None:
    body = b'{"candidates": [{"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP"}, {"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP"}]}'
    assert [c["index"] for c in convert(body, ctx)["choices"]] == [0, 1]


# PITFALLS 3
def test_safety_stop_keeps_the_partial_text_as_content_filter(ctx: ReplyContext) -> None:
    choice = convert(fixture_bytes("generate_content_safety.json"), ctx)["choices"][0]
    assert choice["message"]["content"] == "Here is the first step"
    assert choice["finish_reason"] == "content_filter"


def test_safety_stop_without_parts_has_empty_content(ctx: ReplyContext) -> None:
    body = b'{"candidates": [{"finishReason": "SAFETY", "index": 0}], "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}}'
    choice = convert(body, ctx)["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == ("", "content_filter")


# PITFALLS 3
def test_blocked_prompt_is_a_400_content_filter_not_an_empty_success(ctx: ReplyContext) -> None:
    with pytest.raises(UpstreamError) as info:
        to_chat_result(fixture_bytes("generate_content_prompt_blocked.json"), ctx)
    assert info.value.status == 400
    assert info.value.error.code == "content_filter"
    assert (
        info.value.error.message == "Gemini blocked the prompt (blockReason: PROHIBITED_CONTENT)."
    )


def test_response_without_candidates_or_block_reason_is_502(ctx: ReplyContext) -> None:
    with pytest.raises(UpstreamError) as info:
        to_chat_result(b'{"usageMetadata": {"promptTokenCount": 3}}', ctx)
    assert info.value.status == 502


# PITFALLS 12, 15
def test_thought_parts_become_reasoning_content_never_content(ctx: ReplyContext) -> None:
    body = convert(fixture_bytes("generate_content_thoughts.json"), ctx)
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "42",
        "refusal": None,
        "reasoning_content": "**Weighing the options**\n\nThe user wants a number.",
    }
    assert body["usage"] == {
        "prompt_tokens": 1200,
        "completion_tokens": 51,
        "total_tokens": 1251,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 50},
    }


def test_malformed_function_call_without_output_is_a_502(ctx: ReplyContext) -> None:
    body = b'{"candidates": [{"content": {"role": "model"}, "finishReason": "MALFORMED_FUNCTION_CALL", "finishMessage": "Malformed function call: f(", "index": 0}]}'
    with pytest.raises(UpstreamError) as info:
        to_chat_result(body, ctx)
    assert info.value.status == 502
    assert info.value.error.message == (
        "gemini upstream error: Gemini produced no output (finishReason MALFORMED_FUNCTION_CALL): "
        "Malformed function call: f("
    )


@pytest.mark.parametrize(
    "reason", ["MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS", "MALFORMED_RESPONSE"]
)
def test_issue_11_a_failure_finish_is_a_502_carrying_googles_usage(ctx: ReplyContext, reason: str) -> None:
    body = json.dumps({
        "candidates": [{"content": {"role": "model"}, "finishReason": reason, "finishMessage": "It went wrong.", "index": 0}],
        "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 30, "thoughtsTokenCount": 8,
                          "totalTokenCount": 158},
    }).encode()
    with pytest.raises(UpstreamError) as info:
        to_chat_result(body, ctx)
    assert (info.value.status, info.value.error.type, info.value.error.code) == (502, "upstream_error", "upstream_error")
    assert info.value.error.message == (
        f"gemini upstream error: Gemini produced no output (finishReason {reason}): It went wrong."
    )
    usage = info.value.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (120, 38, 158)


def test_issue_11_a_response_without_candidates_carries_its_usage(ctx: ReplyContext) -> None:
    body = b'{"usageMetadata": {"promptTokenCount": 40, "totalTokenCount": 40}}'
    with pytest.raises(UpstreamError) as info:
        to_chat_result(body, ctx)
    assert info.value.status == 502
    assert info.value.usage is not None and info.value.usage.prompt_tokens == 40


def test_logprobs_result_becomes_openai_logprobs(ctx: ReplyContext) -> None:
    body = b"""{"candidates": [{"content": {"parts": [{"text": "Hi!"}]}, "finishReason": "STOP",
      "logprobsResult": {
        "topCandidates": [{"candidates": [{"token": "Hi", "tokenId": 5, "logProbability": -0.1},
                                          {"token": "Hello", "tokenId": 6, "logProbability": -2.5}]},
                          {"candidates": [{"token": "!", "logProbability": -0.01}]}],
        "chosenCandidates": [{"token": "Hi", "tokenId": 5, "logProbability": -0.1},
                             {"token": "!", "logProbability": -0.01}]}}]}"""
    assert convert(body, ctx)["choices"][0]["logprobs"] == {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.1,
                "bytes": [72, 105],
                "top_logprobs": [
                    {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
                    {"token": "Hello", "logprob": -2.5, "bytes": [72, 101, 108, 108, 111]},
                ],
            },
            {
                "token": "!",
                "logprob": -0.01,
                "bytes": [33],
                "top_logprobs": [{"token": "!", "logprob": -0.01, "bytes": [33]}],
            },
        ],
        "refusal": None,
    }


def test_unreadable_body_is_a_502(ctx: ReplyContext) -> None:
    with pytest.raises(UpstreamError) as info:
        to_chat_result(b"<html>oops</html>", ctx)
    assert info.value.status == 502
    assert info.value.error.code == "upstream_error"


def test_error_object_in_a_200_body_is_mapped(ctx: ReplyContext) -> None:
    with pytest.raises(UpstreamError) as info:
        to_chat_result(b'{"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}', ctx)
    assert info.value.status == 502
    assert info.value.error.message == "gemini upstream error (503): UNAVAILABLE: busy"
