"""The echo model's tool calls: which function, and arguments valid for its schema."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.contracts.openai import CHAT_REQUEST_DECODER, ChatRequest, FunctionDefinition
from workers.providers.echo_tools import (
    ToolChoiceError,
    arguments_for,
    forced_function,
    tool_results_text,
)

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get_time"}}
USER = [{"role": "user", "content": "Paris please"}]


def request(**fields: Any) -> ChatRequest:
    return CHAT_REQUEST_DECODER.decode(json.dumps({"model": "echo", "messages": USER, **fields}))


def test_required_calls_the_first_tool_and_a_named_choice_calls_that_one() -> None:
    assert forced_function(request(tools=[WEATHER, TIME], tool_choice="required")).name == "get_weather"  # type: ignore[union-attr]
    named = {"type": "function", "function": {"name": "get_time"}}
    assert forced_function(request(tools=[WEATHER, TIME], tool_choice=named)).name == "get_time"  # type: ignore[union-attr]


@pytest.mark.parametrize("fields", [
    {"tools": [WEATHER], "tool_choice": "auto"}, {"tools": [WEATHER], "tool_choice": "none"},
    {"tools": [WEATHER]}, {"tool_choice": "required"}, {},
])
def test_no_call_unless_tools_are_given_and_a_call_is_demanded(fields: dict[str, Any]) -> None:
    assert forced_function(request(**fields)) is None


def test_a_named_function_missing_from_tools_is_refused() -> None:
    with pytest.raises(ToolChoiceError, match="'nope', which is not in tools"):
        forced_function(request(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}}))


def test_after_tool_results_the_loop_ends_with_their_text() -> None:
    messages = USER + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
    ]
    req = request(messages=messages, tools=[WEATHER], tool_choice="required")
    assert forced_function(req) is None
    assert tool_results_text(req) == "sunny, 21 C\nnoon"
    assert tool_results_text(request()) is None


def function(parameters: dict[str, Any] | None) -> FunctionDefinition:
    if parameters is None:
        return FunctionDefinition(name="f")
    return FunctionDefinition(name="f", parameters=parameters)


def test_arguments_fill_every_required_property_with_its_type() -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1},
            "lat": {"type": "number"},
            "exact": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "where": {"type": "object", "properties": {"zip": {"type": ["string", "null"]}}, "required": ["zip"]},
            "mode": {"const": "fast"},
            "note": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "optional": {"type": "string"},
        },
        "required": ["city", "unit", "days", "lat", "exact", "tags", "where", "mode", "note"],
    }
    assert arguments_for(function(schema), "Paris please") == {
        "city": "Paris please", "unit": "celsius", "days": 1, "lat": 0.0, "exact": False,
        "tags": ["Paris please", "Paris please"], "where": {"zip": "Paris please"}, "mode": "fast", "note": 0,
    }


def test_arguments_respect_string_lengths_and_defaults() -> None:
    schema = {"type": "object", "required": ["a", "b", "c"], "properties": {
        "a": {"type": "string", "maxLength": 5}, "b": {"type": "string", "minLength": 3}, "c": {"type": "integer", "default": 7}}}
    assert arguments_for(function(schema), "hi") == {"a": "hi", "b": "hi.", "c": 7}
    assert arguments_for(function(schema), "Paris please")["a"] == "Paris"


def test_no_parameters_and_no_words_still_give_a_json_object() -> None:
    assert arguments_for(function(None), "") == {}
    assert arguments_for(function({"type": "object", "properties": {"q": {}}, "required": ["q"]}), "") == {"q": "echo"}


def test_a_recursive_schema_does_not_loop() -> None:
    node: dict[str, Any] = {"type": "object", "required": ["child"]}
    node["properties"] = {"child": node}
    value = arguments_for(function(node), "x")
    depth = 0
    while isinstance(value, dict):
        value, depth = value["child"], depth + 1
    assert value is None and depth < 12
