"""Anthropic stream -> OpenAI chunks (PITFALLS 1, 3, 7, 9, 10, 12, 15, 16)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.contracts.openai import JSON_ENCODER, PromptTokensDetails, Usage
from workers.providers.anthropic.response import to_chat_result
from workers.providers.anthropic.stream import AnthropicStream
from workers.providers.base import ReplyContext, SseEvent, UpstreamError
from gateway.runtime.estimate import chunk_chars as output_chars
from workers.sse import SseDecoder

FIXTURES = Path(__file__).parents[3] / "fixtures" / "anthropic"


def _ctx(choice_index: int = 0) -> ReplyContext:
    return ReplyContext("chatcmpl-abc", 1741570283, "claude-sonnet", lambda prefix: f"{prefix}_1", choice_index)


def _events(name: str) -> list[SseEvent]:
    decoder = SseDecoder()
    return decoder.feed((FIXTURES / name).read_bytes()) + decoder.close()


def _feed(converter: AnthropicStream, events: list[SseEvent]) -> list[dict[str, Any]]:
    chunks = []
    for event in events:
        chunks += [json.loads(JSON_ENCODER.encode(c)) for c in converter.feed(event)]
    return chunks


def _replay(name: str, choice_index: int = 0) -> tuple[list[dict[str, Any]], AnthropicStream]:
    converter = AnthropicStream(_ctx(choice_index))
    return _feed(converter, _events(name)), converter


def _event(payload: dict[str, Any]) -> SseEvent:
    return SseEvent(data=json.dumps(payload), event=payload["type"])


def _accumulate(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """What the OpenAI SDK's stream helpers build from the chunks."""
    message: dict[str, Any] = {"content": "", "reasoning_content": "", "tool_calls": {}, "finish_reason": []}
    for chunk in chunks:
        (choice,) = chunk["choices"]
        delta = choice["delta"]
        message["content"] += delta.get("content") or ""
        message["reasoning_content"] += delta.get("reasoning_content") or ""
        for call in delta.get("tool_calls", []):
            entry = message["tool_calls"].setdefault(call["index"], {"id": None, "name": None, "arguments": ""})
            if "id" in call:
                assert entry["id"] is None, "id sent twice for one call"
                entry.update(id=call["id"], name=call["function"]["name"])
            entry["arguments"] += call["function"].get("arguments", "")
        if choice["finish_reason"]:
            message["finish_reason"].append(choice["finish_reason"])
    return message


def _chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion.chunk",
        "created": 1741570283,
        "model": "claude-sonnet",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def test_documented_text_stream_becomes_role_content_and_one_finish_chunk() -> None:
    chunks, converter = _replay("stream_text.sse")
    assert chunks == [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Hello"}),
        _chunk({"content": "!"}),
        _chunk({}, "stop"),
    ]
    assert converter.close().usage == Usage(
        prompt_tokens=25, completion_tokens=15, total_tokens=40, prompt_tokens_details=PromptTokensDetails(cached_tokens=0)
    )


def test_pitfall_1_thinking_text_and_two_parallel_tool_calls_one_with_empty_input() -> None:
    chunks, converter = _replay("stream_thinking_tools.sse")
    assert all(len(c["choices"]) == 1 and c["choices"][0]["index"] == 0 for c in chunks)
    tool_deltas = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
    assert [d["index"] for d in tool_deltas] == [0, 0, 0, 0, 1, 1]
    firsts = [d for d in tool_deltas if "id" in d]
    assert [(d["index"], d["type"], d["function"]) for d in firsts] == [
        (0, "function", {"name": "get_weather", "arguments": ""}),
        (1, "function", {"name": "get_time", "arguments": ""}),
    ]
    assert all(set(d) == {"index", "function"} and set(d["function"]) == {"arguments"} for d in tool_deltas if "id" not in d)
    message = _accumulate(chunks)
    assert message["content"] == "Let me look both up."
    assert message["reasoning_content"] == "The user wants the weather and the time in Paris. I can call both tools at once."
    assert [json.loads(c["arguments"]) for c in message["tool_calls"].values()] == [{"location": "Paris"}, {}]
    assert message["finish_reason"] == ["tool_calls"]
    assert chunks[-1] == _chunk({}, "tool_calls")
    assert converter.close().usage.completion_tokens == 143


def test_streamed_reply_equals_the_non_streamed_one_including_billing() -> None:
    chunks, converter = _replay("stream_thinking_tools.sse")
    streamed = _accumulate(chunks)
    result = to_chat_result((FIXTURES / "message_thinking_tools.json").read_bytes(), _ctx())
    whole = json.loads(JSON_ENCODER.encode(result.body))["choices"][0]
    assert streamed["content"] == whole["message"]["content"]
    assert streamed["reasoning_content"] == whole["message"]["reasoning_content"]
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in streamed["tool_calls"].values()] == [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in whole["message"]["tool_calls"]
    ]
    assert streamed["finish_reason"] == [whole["finish_reason"]]
    assert converter.close().usage == result.usage


def test_every_chunk_carries_the_fan_out_choice_index() -> None:
    chunks, _ = _replay("stream_thinking_tools.sse", choice_index=2)
    assert {c["choices"][0]["index"] for c in chunks} == {2}


def test_no_usage_chunk_is_emitted_but_usage_is_known() -> None:
    chunks, converter = _replay("stream_cache_usage.sse")
    assert all(c["choices"] and "usage" not in c for c in chunks)
    assert converter.usage() == Usage(
        prompt_tokens=2098, completion_tokens=12, total_tokens=2110, prompt_tokens_details=PromptTokensDetails(cached_tokens=1800, cache_write_tokens=248)
    )


def test_pitfall_16_error_event_raises_and_usage_so_far_is_kept() -> None:
    converter = AnthropicStream(_ctx())
    events = _events("stream_error_midstream.sse")
    assert _feed(converter, events[:-1]) == [_chunk({"role": "assistant", "content": ""}), _chunk({"content": "Once upon"})]
    with pytest.raises(UpstreamError) as info:
        converter.feed(events[-1])
    assert info.value.status == 502
    assert info.value.error.message == "anthropic upstream error (529): overloaded_error: Overloaded"
    # the output count is unknown (message_start's 1 is a placeholder): the service estimates it
    assert (converter.usage().prompt_tokens, converter.usage().completion_tokens) == (40, 0)


def test_issue_11_a_cut_stream_reports_no_output_so_the_streamed_output_is_estimated() -> None:
    converter = AnthropicStream(_ctx())
    start = {"type": "message_start", "message": {
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 30, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 2}}}
    events = [
        start,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "t" * 400}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        *({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "x" * 100}} for _ in range(100)),
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"city": "Par'}},
    ]
    chunks = converter.feed(SseEvent(data="", event="ping"))
    for payload in events:
        chunks += converter.feed(_event(payload))
    assert converter.usage() == Usage(prompt_tokens=30, completion_tokens=0, total_tokens=30,
                                      prompt_tokens_details=PromptTokensDetails(cached_tokens=0))
    assert sum(output_chars(c) for c in chunks) == 400 + 10_000 + len("get_weather") + len('{"city": "Par')


def test_stream_cut_before_message_stop_fails_at_close() -> None:
    converter = AnthropicStream(_ctx())
    _feed(converter, _events("stream_text.sse")[:5])
    with pytest.raises(UpstreamError) as info:
        converter.close()
    assert info.value.status == 502
    assert info.value.error.message == "anthropic upstream stream ended early (no message_stop)"


def test_tool_call_cut_by_max_tokens_passes_partial_arguments_with_length() -> None:
    chunks, converter = _replay("stream_max_tokens_tool.sse")
    message = _accumulate(chunks)
    assert message["tool_calls"] == {0: {"id": "toolu_01CutShort", "name": "write_file", "arguments": '{"path": "a.txt", "text": "lorem'}}
    assert message["finish_reason"] == ["length"]
    converter.close()


def test_json_mode_tool_streams_as_content_and_finishes_with_stop() -> None:
    converter = AnthropicStream(_ctx())
    chunks = _feed(converter, [
        _event({"type": "message_start", "message": {"content": [], "usage": {"input_tokens": 9, "output_tokens": 1}}}),
        _event({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "json_response", "input": {}}}),
        _event({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        _event({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"ok": '}}),
        _event({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "true}"}}),
        _event({"type": "content_block_stop", "index": 0}),
        _event({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 6}}),
        _event({"type": "message_stop"}),
    ])
    assert chunks == [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": '{"ok": '}),
        _chunk({"content": "true}"}),
        _chunk({}, "stop"),
    ]


def test_tool_call_without_input_fragments_gets_empty_object_arguments() -> None:
    converter = AnthropicStream(_ctx())
    chunks = _feed(converter, [
        _event({"type": "message_start", "message": {"content": [], "usage": {"input_tokens": 9, "output_tokens": 1}}}),
        _event({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}}),
        _event({"type": "content_block_stop", "index": 0}),
    ])
    assert chunks[1:] == [
        _chunk({"tool_calls": [{"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "now", "arguments": ""}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
    ]


def test_pings_unknown_events_blocks_and_deltas_are_ignored() -> None:
    converter = AnthropicStream(_ctx())
    chunks = _feed(converter, [
        _event({"type": "message_start", "message": {"content": [], "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        _event({"type": "ping"}),
        _event({"type": "some_future_event", "x": 1}),
        _event({"type": "content_block_start", "index": 0, "content_block": {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}}),
        _event({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"q": 1}'}}),
        _event({"type": "content_block_stop", "index": 0}),
        _event({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        _event({"type": "content_block_delta", "index": 1, "delta": {"type": "citations_delta", "citation": {"type": "char_location"}}}),
        _event({"type": "content_block_delta", "index": 1, "delta": {"type": "new_delta_kind", "x": 1}}),
        SseEvent(data="", event="message"),
    ])
    assert chunks == [_chunk({"role": "assistant", "content": ""})]


def test_finish_reason_is_sent_once_even_if_message_delta_repeats() -> None:
    converter = AnthropicStream(_ctx())
    chunks = _feed(converter, [
        _event({"type": "message_start", "message": {"content": [], "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        _event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
        _event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}}),
        _event({"type": "message_stop"}),
    ])
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, "stop"]
    assert converter.close().usage.completion_tokens == 4


def test_message_stop_without_message_delta_still_finishes() -> None:
    converter = AnthropicStream(_ctx())
    chunks = _feed(converter, [
        _event({"type": "message_start", "message": {"content": [], "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        _event({"type": "message_stop"}),
    ])
    assert chunks[-1] == _chunk({}, "stop")


def test_malformed_event_data_is_a_502() -> None:
    with pytest.raises(UpstreamError) as info:
        AnthropicStream(_ctx()).feed(SseEvent(data="{not json", event="content_block_delta"))
    assert info.value.status == 502
