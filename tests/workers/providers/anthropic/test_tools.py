"""tools / tool_choice / parallel_tool_calls / JSON mode / tool-call ids (PITFALLS 2, 15)."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import pytest
from msgspec import UNSET

from gateway.contracts.openai import CHAT_REQUEST_DECODER, ChatRequest
from workers.providers.anthropic.schema import (
    RedactedThinkingBlock,
    ThinkingBlock,
    ToolChoiceAny,
    ToolChoiceAuto,
    ToolChoiceNone,
    ToolChoiceTool,
    ToolSpec,
)
from workers.providers.anthropic.tools import (
    JSON_TOOL_NAME,
    decode_call_id,
    encode_call_id,
    json_mode_tool,
    stand_in_tools,
    to_tool_choice,
    to_tool_specs,
    to_tool_use_id,
)
from workers.providers.base import ConversionError

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _req(**fields: Any) -> ChatRequest:
    body = {"model": "claude", "messages": [{"role": "user", "content": "hi"}], **fields}
    return CHAT_REQUEST_DECODER.decode(json.dumps(body).encode())


def _choice(**fields: Any) -> object:
    req = _req(tools=[WEATHER], **fields)
    return to_tool_choice(req, ["get_weather"], thinking=False)


def test_function_tool_becomes_anthropic_tool_with_input_schema() -> None:
    assert to_tool_specs(_req(tools=[WEATHER]).tools) == [  # type: ignore[arg-type]
        ToolSpec(
            name="get_weather",
            input_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            description="Weather of a city",
        )
    ]


def test_tool_without_parameters_gets_an_empty_object_schema() -> None:
    req = _req(tools=[{"type": "function", "function": {"name": "now"}}, {"type": "function", "function": {"name": "ping", "parameters": {}}}])
    specs = to_tool_specs(req.tools)  # type: ignore[arg-type]
    assert [s.input_schema for s in specs] == [{"type": "object", "properties": {}}] * 2


def test_schema_without_type_is_given_type_object() -> None:
    req = _req(tools=[{"type": "function", "function": {"name": "f", "parameters": {"properties": {"a": {"type": "string"}}}}}])
    assert to_tool_specs(req.tools)[0].input_schema == {"type": "object", "properties": {"a": {"type": "string"}}}  # type: ignore[arg-type]


def test_non_object_schema_is_400_naming_the_tool_parameters() -> None:
    req = _req(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}])
    with pytest.raises(ConversionError) as info:
        to_tool_specs(req.tools)  # type: ignore[arg-type]
    assert info.value.error.param == "tools[0].function.parameters"


def test_tool_name_claude_cannot_take_is_400_naming_it() -> None:
    req = _req(tools=[WEATHER, {"type": "function", "function": {"name": "weather.get"}}])
    with pytest.raises(ConversionError) as info:
        to_tool_specs(req.tools)  # type: ignore[arg-type]
    assert info.value.status == 400
    assert info.value.error.param == "tools[1].function.name"


def test_reserved_json_tool_name_is_400() -> None:
    req = _req(tools=[{"type": "function", "function": {"name": JSON_TOOL_NAME}}])
    with pytest.raises(ConversionError) as info:
        to_tool_specs(req.tools)  # type: ignore[arg-type]
    assert info.value.error.param == "tools[0].function.name"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, UNSET),
        ({"tool_choice": "none"}, ToolChoiceNone()),
        ({"tool_choice": "auto"}, ToolChoiceAuto()),
        ({"tool_choice": "required"}, ToolChoiceAny()),
        ({"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}, ToolChoiceTool(name="get_weather")),
        ({"parallel_tool_calls": False}, ToolChoiceAuto(disable_parallel_tool_use=True)),
        ({"tool_choice": "auto", "parallel_tool_calls": False}, ToolChoiceAuto(disable_parallel_tool_use=True)),
        ({"tool_choice": "required", "parallel_tool_calls": False}, ToolChoiceAny(disable_parallel_tool_use=True)),
        (
            {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "parallel_tool_calls": False},
            ToolChoiceTool(name="get_weather", disable_parallel_tool_use=True),
        ),
        ({"tool_choice": "none", "parallel_tool_calls": False}, ToolChoiceNone()),
        ({"parallel_tool_calls": True}, UNSET),
    ],
)
def test_tool_choice_and_parallel_tool_calls_map_to_anthropic(fields: dict[str, Any], expected: object) -> None:
    assert _choice(**fields) == expected


def test_named_tool_choice_for_an_unknown_function_is_400() -> None:
    with pytest.raises(ConversionError) as info:
        _choice(tool_choice={"type": "function", "function": {"name": "other"}})
    assert info.value.error.param == "tool_choice"


def test_tool_choice_without_tools_is_400_but_none_is_fine() -> None:
    with pytest.raises(ConversionError) as info:
        to_tool_choice(_req(tool_choice="required"), [], thinking=False)
    assert info.value.error.param == "tool_choice"
    assert to_tool_choice(_req(tool_choice="none"), [], thinking=False) is UNSET


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_forcing_a_tool_with_thinking_is_400(choice: object) -> None:
    with pytest.raises(ConversionError) as info:
        to_tool_choice(_req(tools=[WEATHER], tool_choice=choice), ["get_weather"], thinking=True)
    assert info.value.error.param == "tool_choice"


def test_auto_and_none_are_allowed_with_thinking() -> None:
    assert to_tool_choice(_req(tools=[WEATHER], tool_choice="auto"), ["get_weather"], thinking=True) == ToolChoiceAuto()
    assert to_tool_choice(_req(tools=[WEATHER], tool_choice="none"), ["get_weather"], thinking=True) == ToolChoiceNone()


def test_json_object_becomes_a_forced_permissive_tool() -> None:
    tool = json_mode_tool(_req(response_format={"type": "json_object"}), has_tools=False, thinking=False)
    assert tool == ToolSpec(
        name="json_response",
        input_schema={"type": "object"},
        description="Respond with a JSON object. Its input is the whole answer.",
    )


def test_json_schema_becomes_a_forced_tool_with_that_schema() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    req = _req(response_format={"type": "json_schema", "json_schema": {"name": "person", "description": "A person", "schema": schema}})
    assert json_mode_tool(req, has_tools=False, thinking=False) == ToolSpec("json_response", schema, "A person")


def test_text_response_format_needs_no_tool() -> None:
    assert json_mode_tool(_req(response_format={"type": "text"}), has_tools=False, thinking=False) is None
    assert json_mode_tool(_req(), has_tools=False, thinking=False) is None


def test_json_schema_of_an_array_is_400() -> None:
    req = _req(response_format={"type": "json_schema", "json_schema": {"name": "list", "schema": {"type": "array"}}})
    with pytest.raises(ConversionError) as info:
        json_mode_tool(req, has_tools=False, thinking=False)
    assert info.value.error.param == "response_format.json_schema.schema"


@pytest.mark.parametrize(("has_tools", "thinking"), [(True, False), (False, True)])
def test_json_mode_with_tools_or_thinking_is_400(has_tools: bool, thinking: bool) -> None:
    with pytest.raises(ConversionError) as info:
        json_mode_tool(_req(response_format={"type": "json_object"}), has_tools=has_tools, thinking=thinking)
    assert info.value.error.param == "response_format"


def test_stand_in_tools_cover_each_history_name_once() -> None:
    assert stand_in_tools(["a", "b", "a"]) == [
        ToolSpec("a", {"type": "object"}),
        ToolSpec("b", {"type": "object"}),
    ]


def test_call_id_without_thinking_is_anthropics_id() -> None:
    assert encode_call_id("toolu_01A09q90qw90lq917835lq9", []) == "toolu_01A09q90qw90lq917835lq9"
    assert decode_call_id("toolu_01A09q90qw90lq917835lq9") == ("toolu_01A09q90qw90lq917835lq9", [])


def test_thinking_and_signature_survive_a_round_trip_through_the_call_id() -> None:
    thinking = [ThinkingBlock("I should call the tool.", "EqQBCgIYAhIM1gbcDa9G"), RedactedThinkingBlock("EmwKAhgBEgy3va3pzix")]
    call_id = encode_call_id("toolu_01X", thinking)
    assert call_id.startswith("toolu_01X.")
    assert decode_call_id(call_id) == ("toolu_01X", thinking)


def test_foreign_ids_are_mapped_to_anthropics_alphabet_consistently() -> None:
    assert to_tool_use_id("call:abc/1") == "call_abc_1"
    assert decode_call_id("call.abc") == ("call_abc", [])
    assert decode_call_id("call_123") == ("call_123", [])


def test_oversized_packed_thinking_is_not_inflated() -> None:
    bomb = zlib.compress(b"[" + b" " * (5 * 1024 * 1024) + b"]")
    payload = base64.urlsafe_b64encode(bomb).decode().rstrip("=")
    assert decode_call_id(f"toolu_1.{payload}") == (to_tool_use_id(f"toolu_1.{payload}"), [])
