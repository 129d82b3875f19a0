"""Prompt caching from OpenAI-shaped requests (issue 11, item 8).

`cache_control` on text parts, system/developer messages and tools becomes Anthropic's
breakpoints; a fifth breakpoint is a 400; `prompt_cache = "auto"` places breakpoints on
the tools, the system prompt and the last user turn.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.contracts.openai import CHAT_REQUEST_DECODER
from workers.providers.anthropic.request import to_messages_request
from workers.providers.anthropic.schema import ENCODER
from gateway.contracts.config import ModelOptions
from workers.providers.base import ConversionError, Target

TARGET = Target("https://api.anthropic.com", "k", "claude-up", "claude", ModelOptions(max_output_tokens=4096))
AUTO = Target("https://api.anthropic.com", "k", "claude-up", "claude", ModelOptions(max_output_tokens=4096, prompt_cache="auto"))
EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
CLOCK = {"type": "function", "function": {"name": "get_time"}}


def _wire(target: Target = TARGET, **fields: Any) -> dict[str, Any]:
    body = {"model": "claude", "messages": [{"role": "user", "content": "Hello"}], **fields}
    req = CHAT_REQUEST_DECODER.decode(json.dumps(body).encode())
    return json.loads(ENCODER.encode(to_messages_request(req, target, False)))


def text(value: str, cache: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "text", "text": value, **({"cache_control": cache} if cache else {})}


def test_cache_control_on_text_parts_system_and_tools_is_sent() -> None:
    wire = _wire(
        messages=[
            {"role": "system", "content": [text("Long rules."), text("More rules.", EPHEMERAL)]},
            {"role": "developer", "content": "Dev notes.", "cache_control": HOUR},
            {"role": "user", "content": [text("Big document.", EPHEMERAL), text("Question?")]},
        ],
        tools=[WEATHER, {**CLOCK, "cache_control": EPHEMERAL}],
    )
    assert wire["system"] == [text("Long rules."), text("More rules.", EPHEMERAL), text("Dev notes.", HOUR)]
    assert wire["messages"] == [{"role": "user", "content": [text("Big document.", EPHEMERAL), text("Question?")]}]
    assert wire["tools"][1] == {"name": "get_time", "input_schema": {"type": "object", "properties": {}},
                                "cache_control": EPHEMERAL}
    assert "cache_control" not in wire["tools"][0]


def test_cache_control_on_assistant_and_tool_text_parts_is_sent() -> None:
    wire = _wire(messages=[
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [text("Let me look.", EPHEMERAL)],
         "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": [text("sunny", EPHEMERAL)]},
    ], tools=[WEATHER])
    assert wire["messages"][1]["content"][0] == text("Let me look.", EPHEMERAL)
    assert wire["messages"][2]["content"][0]["content"] == [text("sunny", EPHEMERAL)]


def test_a_fifth_breakpoint_is_400_naming_it() -> None:
    with pytest.raises(ConversionError) as info:
        _wire(
            messages=[
                {"role": "system", "content": "rules", "cache_control": EPHEMERAL},
                {"role": "user", "content": [text("a", EPHEMERAL), text("b", EPHEMERAL), text("c", EPHEMERAL)]},
            ],
            tools=[{**WEATHER, "cache_control": EPHEMERAL}],
        )
    assert info.value.status == 400
    assert info.value.error.param == "messages[1].content[2].cache_control"
    assert "4" in info.value.error.message
    assert _wire(messages=[{"role": "user", "content": [text(c, EPHEMERAL) for c in "abcd"]}])["messages"]


def test_prompt_cache_off_sends_no_breakpoints_of_its_own() -> None:
    wire = _wire(messages=[{"role": "system", "content": "rules"}, {"role": "user", "content": "q"}], tools=[WEATHER])
    assert "cache_control" not in json.dumps(wire)


def test_prompt_cache_auto_marks_tools_system_and_the_last_user_turn() -> None:
    wire = _wire(
        AUTO,
        messages=[
            {"role": "system", "content": "rules"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": [text("second"), text("turn")]},
        ],
        tools=[WEATHER, CLOCK],
    )
    assert "cache_control" not in wire["tools"][0] and wire["tools"][1]["cache_control"] == EPHEMERAL
    assert wire["system"] == [text("rules", EPHEMERAL)]
    assert wire["messages"][0]["content"] == [text("first")]
    assert wire["messages"][2]["content"] == [text("second"), text("turn", EPHEMERAL)]


def test_prompt_cache_auto_marks_a_tool_result_and_skips_a_prefill() -> None:
    wire = _wire(AUTO, messages=[
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
        {"role": "assistant", "content": "It is"},
    ], tools=[WEATHER])
    assert wire["messages"][2]["content"][-1] == {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny",
                                                  "cache_control": EPHEMERAL}
    assert wire["messages"][3] == {"role": "assistant", "content": [text("It is")]}
    assert "system" not in wire


def test_prompt_cache_auto_never_makes_a_fifth_and_keeps_the_callers_marks() -> None:
    wire = _wire(
        AUTO,
        messages=[
            {"role": "system", "content": "rules"},
            {"role": "user", "content": [text("a", EPHEMERAL), text("b", EPHEMERAL), text("c", HOUR), text("d")]},
        ],
        tools=[WEATHER],
    )
    # three of the caller's, plus one of the gateway's: the last user turn comes first
    assert wire["messages"][0]["content"] == [text("a", EPHEMERAL), text("b", EPHEMERAL), text("c", HOUR), text("d", EPHEMERAL)]
    assert wire["system"] == [text("rules")] and "cache_control" not in wire["tools"][0]
    assert json.dumps(wire).count("cache_control") == 4


def test_prompt_cache_auto_does_not_mark_a_block_twice() -> None:
    wire = _wire(AUTO, messages=[{"role": "user", "content": [text("only", HOUR)]}])
    assert wire["messages"][0]["content"] == [text("only", HOUR)]
