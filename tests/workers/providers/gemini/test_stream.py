"""streamGenerateContent SSE -> chat.completion.chunks (PITFALLS 1, 3, 9, 13, 15, 16)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.workers.providers.gemini.conftest import as_json, fixture_bytes
from workers.providers.base import ReplyContext, SseEvent, UpstreamError
from workers.providers.gemini.stream import GeminiStream
from workers.sse import SseDecoder

HEAD = {
    "id": "chatcmpl-test",
    "object": "chat.completion.chunk",
    "created": 1_700_000_000,
    "model": "gemini-public",
}


def events_of(raw: bytes) -> list[SseEvent]:
    decoder = SseDecoder()
    return decoder.feed(raw) + decoder.close()


def feed_all(stream: GeminiStream, events: list[SseEvent]) -> list[dict[str, Any]]:
    return [as_json(chunk) for event in events for chunk in stream.feed(event)]


def event(payload: dict[str, Any]) -> SseEvent:
    return SseEvent(data=json.dumps(payload))


def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        **HEAD,
        "choices": [{"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def text_event(
    text: str, index: int | None = 0, finish: str | None = None, **usage: int
) -> SseEvent:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
    if index is not None:
        candidate["index"] = index
    if finish:
        candidate["finishReason"] = finish
    payload: dict[str, Any] = {"candidates": [candidate]}
    if usage:
        payload["usageMetadata"] = usage
    return event(payload)


def test_text_stream_from_the_wire_becomes_chunks(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    chunks = feed_all(stream, events_of(fixture_bytes("stream_text.sse")))
    assert chunks == [
        chunk(0, {"role": "assistant", "content": "The capital"}),
        chunk(0, {"content": " of France is <b>Paris</b>"}),
        chunk(0, {}, "stop"),
    ]
    outcome = stream.close()
    assert as_json(outcome.usage) == {
        "prompt_tokens": 8,
        "completion_tokens": 30,
        "total_tokens": 38,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 20},
    }


# PITFALLS 9
def test_usage_is_the_last_metadata_never_a_sum(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    for k in range(1, 6):
        stream.feed(
            text_event("x", promptTokenCount=10, candidatesTokenCount=k, totalTokenCount=10 + k)
        )
    usage = stream.usage()
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (10, 5, 15)


# PITFALLS 9
def test_no_chunk_ever_has_empty_choices(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    chunks = feed_all(stream, events_of(fixture_bytes("stream_parallel_calls.sse")))
    assert all(len(c["choices"]) == 1 for c in chunks)
    assert all("usage" not in c for c in chunks)


# PITFALLS 1, 13
def test_parallel_calls_get_indices_unique_ids_and_whole_arguments(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    chunks = feed_all(stream, events_of(fixture_bytes("stream_parallel_calls.sse")))
    assert chunks == [
        chunk(0, {"role": "assistant", "content": "Let me check."}),
        chunk(
            0,
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1_ts_CiQBcsjafFK168IbtVto",  # the signature rides in the id too
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Tokyo"}'},
                        "extra_content": {"google": {"thought_signature": "CiQBcsjafFK168IbtVto"}},
                    }
                ]
            },
        ),
        chunk(
            0,
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Mumbai"}'},
                    }
                ]
            },
        ),
        chunk(
            0,
            {
                "tool_calls": [
                    {
                        "index": 2,
                        "id": "call_3",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    }
                ]
            },
        ),
        chunk(0, {}, "tool_calls"),
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks].count("tool_calls") == 1
    assert stream.close().usage.completion_tokens == 144


def test_a_call_first_reply_starts_with_role_on_the_tool_call_chunk(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    payload = {
        "candidates": [
            {
                "content": {"parts": [{"functionCall": {"name": "now", "args": {}}}]},
                "finishReason": "STOP",
            }
        ]
    }
    assert feed_all(stream, [event(payload)]) == [
        chunk(
            0,
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "now", "arguments": "{}"},
                    }
                ],
            },
        ),
        chunk(0, {}, "tool_calls"),
    ]


def test_two_candidates_interleave_with_their_own_role_and_finish(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    both = {
        "candidates": [
            {"content": {"parts": [{"text": "A1"}], "role": "model"}, "index": 0},
            {"content": {"parts": [{"text": "B1"}], "role": "model"}, "index": 1},
        ]
    }
    last = {
        "candidates": [
            {
                "content": {"parts": [{"text": "B2"}], "role": "model"},
                "finishReason": "MAX_TOKENS",
                "index": 1,
            },
            {
                "content": {"parts": [{"text": "A2"}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            },
        ],
        "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 4, "totalTokenCount": 6},
    }
    assert feed_all(stream, [event(both), event(last)]) == [
        chunk(0, {"role": "assistant", "content": "A1"}),
        chunk(1, {"role": "assistant", "content": "B1"}),
        chunk(1, {"content": "B2"}),
        chunk(1, {}, "length"),
        chunk(0, {"content": "A2"}),
        chunk(0, {}, "stop"),
    ]
    assert stream.close().usage.total_tokens == 6


def test_finish_on_an_empty_text_part_emits_only_the_finish_chunk(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    chunks = feed_all(stream, [text_event("Hi"), text_event("", finish="STOP")])
    assert chunks == [chunk(0, {"role": "assistant", "content": "Hi"}), chunk(0, {}, "stop")]


def test_a_choice_that_finishes_without_output_still_gets_a_role_chunk(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    assert feed_all(stream, [event({"candidates": [{"finishReason": "SAFETY", "index": 0}]})]) == [
        chunk(0, {"role": "assistant", "content": ""}),
        chunk(0, {}, "content_filter"),
    ]


def test_safety_stop_mid_stream_is_content_filter(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    chunks = feed_all(stream, [text_event("Step one"), text_event(" and", finish="SAFETY")])
    assert chunks[-1] == chunk(0, {}, "content_filter")
    assert chunks[-2] == chunk(0, {"content": " and"})


# PITFALLS 15
def test_thought_parts_stream_as_reasoning_content(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    payload = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "Thinking", "thought": True},
                        {"text": " hard", "thought": True},
                        {"text": "Answer", "thoughtSignature": "U0lH"},
                    ]
                },
                "finishReason": "STOP",
            }
        ]
    }
    assert feed_all(stream, [event(payload)]) == [
        chunk(0, {"role": "assistant", "reasoning_content": "Thinking hard"}),
        chunk(0, {"content": "Answer"}),
        chunk(0, {}, "stop"),
    ]


# PITFALLS 16
def test_error_event_mid_stream_raises_and_keeps_usage(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    events = events_of(fixture_bytes("stream_error_midstream.sse"))
    chunks = [as_json(c) for c in stream.feed(events[0]) + stream.feed(events[1])]
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["Once upon", " a time"]
    with pytest.raises(UpstreamError) as info:
        stream.feed(events[2])
    assert info.value.status == 502
    assert info.value.error.message == (
        "gemini upstream error (503): UNAVAILABLE: The model is overloaded. Please try again later."
    )
    assert (stream.usage().prompt_tokens, stream.usage().completion_tokens) == (6, 4)


def test_rate_limit_error_event_is_a_429(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    payload = {
        "error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}
    }
    with pytest.raises(UpstreamError) as info:
        stream.feed(event(payload))
    assert info.value.status == 429


# PITFALLS 16
def test_stream_cut_before_finish_reason_is_a_502_at_close(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    stream.feed(
        text_event("partial", promptTokenCount=3, candidatesTokenCount=1, totalTokenCount=4)
    )
    with pytest.raises(UpstreamError) as info:
        stream.close()
    assert info.value.status == 502
    assert info.value.error.message == (
        "gemini upstream error: the stream ended before Gemini reported a finishReason"
    )
    assert stream.usage().total_tokens == 4


def test_empty_stream_is_a_502_at_close(ctx: ReplyContext) -> None:
    with pytest.raises(UpstreamError):
        GeminiStream(ctx).close()


def test_one_unfinished_choice_of_two_is_a_502_at_close(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    stream.feed(text_event("a", index=0, finish="STOP"))
    stream.feed(text_event("b", index=1))
    with pytest.raises(UpstreamError):
        stream.close()


def test_blocked_prompt_event_is_a_400_content_filter(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    payload = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
    }
    with pytest.raises(UpstreamError) as info:
        stream.feed(event(payload))
    assert (info.value.status, info.value.error.code) == (400, "content_filter")
    assert stream.usage().prompt_tokens == 9


def test_malformed_function_call_without_output_raises(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    with pytest.raises(UpstreamError) as info:
        stream.feed(
            event({"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL", "index": 0}]})
        )
    assert info.value.status == 502


@pytest.mark.parametrize(
    "reason", ["MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS", "MALFORMED_RESPONSE"]
)
def test_issue_11_a_failure_finish_raises_with_googles_usage(ctx: ReplyContext, reason: str) -> None:
    stream = GeminiStream(ctx)
    payload = {
        "candidates": [{"finishReason": reason, "finishMessage": "It went wrong.", "index": 0}],
        "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 12, "totalTokenCount": 62},
    }
    with pytest.raises(UpstreamError) as info:
        stream.feed(event(payload))
    assert info.value.status == 502
    assert f"finishReason {reason}): It went wrong." in info.value.error.message
    assert info.value.usage is not None and info.value.usage.completion_tokens == 12
    assert (stream.usage().prompt_tokens, stream.usage().completion_tokens) == (50, 12)


def test_unreadable_event_is_a_502(ctx: ReplyContext) -> None:
    with pytest.raises(UpstreamError) as info:
        GeminiStream(ctx).feed(SseEvent(data="{not json"))
    assert info.value.status == 502


def test_empty_events_are_ignored(ctx: ReplyContext) -> None:
    assert GeminiStream(ctx).feed(SseEvent(data="")) == []
    assert GeminiStream(ctx).feed(SseEvent(data="{}")) == []


def test_nothing_follows_a_choices_finish(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    stream.feed(text_event("done", finish="STOP"))
    assert stream.feed(text_event("late", finish="STOP")) == []
    stream.close()


def test_stream_logprobs_ride_on_the_content_chunk(ctx: ReplyContext) -> None:
    stream = GeminiStream(ctx)
    payload = {
        "candidates": [
            {
                "content": {"parts": [{"text": "Hi"}]},
                "logprobsResult": {"chosenCandidates": [{"token": "Hi", "logProbability": -0.5}]},
            }
        ]
    }
    (only,) = feed_all(stream, [event(payload)])
    assert only["choices"][0]["logprobs"] == {
        "content": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}],
        "refusal": None,
    }


def test_issue_11_a_cut_stream_reports_only_counts_google_gave(ctx: ReplyContext) -> None:
    # No placeholder: usageMetadata is cumulative and covers the text streamed with it; an
    # event that counts only the prompt leaves the output at 0, so the service estimates it.
    stream = GeminiStream(ctx)
    stream.feed(text_event("Once upon a time", promptTokenCount=8, totalTokenCount=8))
    assert (stream.usage().prompt_tokens, stream.usage().completion_tokens) == (8, 0)
    stream.feed(text_event(" there was", promptTokenCount=8, candidatesTokenCount=6, totalTokenCount=14))
    assert (stream.usage().prompt_tokens, stream.usage().completion_tokens) == (8, 6)
    with pytest.raises(UpstreamError):
        stream.close()
