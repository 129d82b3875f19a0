"""tools / tool_choice / parallel_tool_calls -> Gemini tools and toolConfig (PITFALLS 2, 14)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.workers.providers.gemini.conftest import as_json, chat_request
from workers.providers.base import ConversionError
from workers.providers.gemini.tools import to_gemini_tool_config, to_gemini_tools

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
NOW = {"type": "function", "function": {"name": "now"}}
MESSAGES = [{"role": "user", "content": "hi"}]


def request(**body: Any) -> Any:
    return chat_request({"messages": MESSAGES, **body})[0]


def test_all_functions_go_in_one_function_declarations_entry() -> None:
    tools = to_gemini_tools(request(tools=[WEATHER, NOW]))
    assert as_json(tools) == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING"}},
                        "required": ["city"],
                    },
                },
                {"name": "now"},
            ]
        }
    ]


def test_tool_with_empty_object_parameters_sends_no_parameters() -> None:
    empty = {
        "type": "function",
        "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}},
    }
    assert as_json(to_gemini_tools(request(tools=[empty]))) == [
        {"functionDeclarations": [{"name": "ping"}]}
    ]


def test_no_tools_means_no_tools_field() -> None:
    from msgspec import UNSET

    assert to_gemini_tools(request()) is UNSET
    assert to_gemini_tools(request(tools=[])) is UNSET


# PITFALLS 14, issue 11 item 11: loose schemas go as plain JSON Schema, never refused
LOOSE_SCHEMAS = [
    {"type": "object", "properties": {"value": {}}},  # Pydantic `Any`
    {"type": "object", "properties": {"values": {"type": "array", "items": {}}}},  # a bare `list`
    {"type": "object", "properties": {"anything": True}},  # a `true` sub-schema
    {"type": "object", "properties": {"x": {"not": {"type": "null"}}}},
]


@pytest.mark.parametrize("schema", LOOSE_SCHEMAS)
def test_issue_11_a_schema_outside_geminis_subset_goes_as_parameters_json_schema(schema: dict[str, Any]) -> None:
    loose = {"type": "function", "function": {"name": "loose", "parameters": schema}}
    tools = as_json(to_gemini_tools(request(tools=[WEATHER, loose])))
    first, second = tools[0]["functionDeclarations"]
    assert "parameters" in first and "parametersJsonSchema" not in first  # the subset when it fits
    assert second == {"name": "loose", "parametersJsonSchema": schema}


def test_a_loose_schema_that_is_not_an_object_is_still_refused() -> None:
    loose = {"type": "function", "function": {"name": "loose", "parameters": {"type": "array", "items": {}}}}
    with pytest.raises(ConversionError) as info:
        to_gemini_tools(request(tools=[NOW, loose]))
    assert info.value.error.param == "tools[1].function.parameters"


def test_parameters_that_are_not_an_object_are_refused() -> None:
    scalar = {"type": "function", "function": {"name": "s", "parameters": {"type": "string"}}}
    with pytest.raises(ConversionError) as info:
        to_gemini_tools(request(tools=[scalar]))
    assert info.value.error.param == "tools[0].function.parameters"


@pytest.mark.parametrize("name", ["1st", "has space", "x" * 129, "naïve"])
def test_invalid_function_name_is_refused(name: str) -> None:
    tool = {"type": "function", "function": {"name": name}}
    with pytest.raises(ConversionError) as info:
        to_gemini_tools(request(tools=[tool]))
    assert info.value.error.param == "tools[0].function.name"


def test_names_with_dots_colons_and_dashes_are_accepted() -> None:
    tool = {"type": "function", "function": {"name": "mcp.server:read-file_2"}}
    assert as_json(to_gemini_tools(request(tools=[tool]))) == [
        {"functionDeclarations": [{"name": "mcp.server:read-file_2"}]}
    ]


def test_duplicate_function_names_are_refused() -> None:
    with pytest.raises(ConversionError) as info:
        to_gemini_tools(request(tools=[NOW, NOW]))
    assert info.value.error.param == "tools[1].function.name"


# PITFALLS 2
@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("none", {"functionCallingConfig": {"mode": "NONE"}}),
        ("auto", {"functionCallingConfig": {"mode": "AUTO"}}),
        ("required", {"functionCallingConfig": {"mode": "ANY"}}),
        (
            {"type": "function", "function": {"name": "now"}},
            {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["now"]}},
        ),
    ],
)
def test_tool_choice_maps_to_function_calling_mode(choice: Any, expected: Any) -> None:
    config = to_gemini_tool_config(request(tools=[WEATHER, NOW], tool_choice=choice))
    assert as_json(config) == expected


def test_no_tool_choice_leaves_geminis_auto_default() -> None:
    from msgspec import UNSET

    assert to_gemini_tool_config(request(tools=[WEATHER])) is UNSET
    assert to_gemini_tool_config(request(tools=[WEATHER], tool_choice=None)) is UNSET


def test_named_tool_choice_must_be_one_of_the_tools() -> None:
    with pytest.raises(ConversionError) as info:
        to_gemini_tool_config(
            request(
                tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "other"}}
            )
        )
    assert info.value.error.param == "tool_choice.function.name"


def test_required_tool_choice_without_tools_is_refused() -> None:
    with pytest.raises(ConversionError) as info:
        to_gemini_tool_config(request(tool_choice="required"))
    assert info.value.error.param == "tool_choice"


def test_none_or_auto_without_tools_needs_no_config() -> None:
    from msgspec import UNSET

    assert to_gemini_tool_config(request(tool_choice="none")) is UNSET
    assert to_gemini_tool_config(request(tool_choice="auto")) is UNSET


# PITFALLS 2
def test_parallel_tool_calls_false_is_refused_naming_it() -> None:
    with pytest.raises(ConversionError) as info:
        to_gemini_tool_config(request(tools=[WEATHER], parallel_tool_calls=False))
    assert info.value.status == 400
    assert info.value.error.param == "parallel_tool_calls"


def test_parallel_tool_calls_true_is_geminis_behaviour() -> None:
    config = to_gemini_tool_config(
        request(tools=[WEATHER], parallel_tool_calls=True, tool_choice="auto")
    )
    assert as_json(config) == {"functionCallingConfig": {"mode": "AUTO"}}
