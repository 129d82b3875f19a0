"""Wire Structs: what is sent, and tolerance for types Anthropic adds later."""

from __future__ import annotations

import msgspec
import pytest

from workers.providers.anthropic.schema import (
    ENCODER,
    ContentBlockStart,
    InputMessage,
    MessagesRequest,
    TextBlock,
    TextDelta,
    ToolChoiceAuto,
    ToolChoiceNone,
    ToolResultBlock,
    decode_block,
    decode_delta,
    decode_event,
)


def test_request_sends_only_the_fields_that_were_set() -> None:
    req = MessagesRequest(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        messages=[InputMessage("user", [TextBlock("Hello")])],
    )
    assert ENCODER.encode(req) == (
        b'{"model":"claude-sonnet-4-5","max_tokens":1024,'
        b'"messages":[{"role":"user","content":[{"type":"text","text":"Hello"}]}]}'
    )


def test_tool_choice_and_tool_result_encode_with_their_type_tags() -> None:
    assert ENCODER.encode(ToolChoiceAuto()) == b'{"type":"auto"}'
    assert ENCODER.encode(ToolChoiceAuto(disable_parallel_tool_use=True)) == (
        b'{"type":"auto","disable_parallel_tool_use":true}'
    )
    assert ENCODER.encode(ToolChoiceNone()) == b'{"type":"none"}'
    assert ENCODER.encode(ToolResultBlock("toolu_1")) == b'{"type":"tool_result","tool_use_id":"toolu_1"}'


def test_unknown_event_type_decodes_to_none() -> None:
    assert decode_event('{"type": "content_block_pause", "index": 0}') is None


def test_known_event_decodes_with_padding_before_the_closing_brace() -> None:
    event = decode_event('{"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}      }')
    assert isinstance(event, ContentBlockStart)
    assert event.index == 2


def test_unknown_block_type_decodes_to_none() -> None:
    assert decode_block(b'{"type":"web_fetch_tool_result","tool_use_id":"srvtoolu_1","content":{}}') is None


def test_unknown_delta_type_decodes_to_none_and_known_one_decodes() -> None:
    assert decode_delta(b'{"type":"compaction_delta","content":"x"}') is None
    assert decode_delta(b'{"type":"text_delta","text":"hi"}') == TextDelta("hi")


def test_known_type_with_wrong_shape_raises() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_event('{"type":"content_block_stop"}')
