"""Validation of the OpenAI request schema: every parameter of the public table."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from gateway.contracts.errors import APIError, param_from_validation_error
from gateway.contracts.openai import (
    CHAT_REQUEST_DECODER,
    EMBEDDING_REQUEST_DECODER,
    AssistantMessage,
    NamedToolChoice,
    Usage,
    PromptTokensDetails,
    embedding_inputs,
)

BASE: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def decode(**fields: Any) -> Any:
    return CHAT_REQUEST_DECODER.decode(json.dumps({**BASE, **fields}))


def param_of(**fields: Any) -> str | None:
    with pytest.raises(msgspec.ValidationError) as ex:
        decode(**fields)
    return param_from_validation_error(str(ex.value))


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": 2.01}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"n": 0}, "n"),
        ({"n": 129}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": 3}, "stop"),
        ({"presence_penalty": 2.5}, "presence_penalty"),
        ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": {"include_usage": "x"}}, "stream_options.include_usage"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": {"type": "function"}}, "tool_choice.function"),
        ({"tools": [{"type": "function", "function": {"description": "no name"}}]}, "tools[0].function.name"),
        ({"parallel_tool_calls": "no"}, "parallel_tool_calls"),
        ({"response_format": {"type": "yaml"}}, "response_format.type"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        ({"seed": 1.5}, "seed"),
        ({"user": 5}, "user"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "bot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages[0].content[0].type"),
        ({"messages": [{"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f"}}]}]},
         "messages[0].tool_calls[0].function.arguments"),
    ],
)
def test_violation_names_the_param(fields: dict[str, Any], param: str) -> None:
    assert param_of(**fields) == param


def test_missing_model_names_model() -> None:
    with pytest.raises(msgspec.ValidationError) as ex:
        CHAT_REQUEST_DECODER.decode(b'{"messages": [{"role": "user", "content": "x"}]}')
    assert param_from_validation_error(str(ex.value)) == "model"


def test_every_message_role_and_content_shape_decodes() -> None:
    req = decode(messages=[
        {"role": "system", "content": "s"},
        {"role": "developer", "content": [{"type": "text", "text": "d"}]},
        {"role": "user", "content": [{"type": "text", "text": "u"},
                                     {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}]},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ], tool_choice={"type": "function", "function": {"name": "f"}}, stop="END",
       response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}})
    assert isinstance(req.messages[3], AssistantMessage)
    assert isinstance(req.tool_choice, NamedToolChoice) and req.tool_choice.function.name == "f"
    assert req.stop == "END"


def test_null_and_absent_are_different() -> None:
    assert decode(temperature=None).temperature is None
    assert decode().temperature is msgspec.UNSET


def test_unknown_parameters_are_accepted() -> None:
    assert decode(service_tier="flex", verbosity="low").model == "m"


def test_helpers() -> None:
    req = decode(stream=True, stream_options={"include_usage": True}, n=3, max_tokens=5, max_completion_tokens=7)
    assert req.is_stream() and req.wants_usage_chunk() and req.choice_count() == 3
    assert req.output_limit() == 7
    assert not decode(stream_options={"include_usage": True}).wants_usage_chunk()


def test_usage_plus_sums_cached_tokens() -> None:
    a = Usage(prompt_tokens=10, completion_tokens=2, total_tokens=12, prompt_tokens_details=PromptTokensDetails(4))
    b = Usage(prompt_tokens=5, completion_tokens=1, total_tokens=6)
    total = a.plus(b)
    assert (total.prompt_tokens, total.completion_tokens, total.total_tokens, total.cached_tokens()) == (15, 3, 18, 4)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a", ["a"]), (["a", "b"], ["a", "b"]), ([1, 2], [[1, 2]]), ([[1], [2, 3]], [[1], [2, 3]])],
)
def test_embedding_inputs_shapes(value: Any, expected: Any) -> None:
    req = EMBEDDING_REQUEST_DECODER.decode(json.dumps({"model": "e", "input": value}))
    assert embedding_inputs(req) == expected


@pytest.mark.parametrize(("value", "param"), [([], "input"), (["a", ""], "input[1]"), (["a", 1], "input"), ([[]], "input[0]")])
def test_bad_embedding_inputs_are_400(value: Any, param: str) -> None:
    req = EMBEDDING_REQUEST_DECODER.decode(json.dumps({"model": "e", "input": value}))
    with pytest.raises(APIError) as ex:
        embedding_inputs(req)
    assert ex.value.status == 400 and ex.value.error.param == param


# ---------------------------------------------------------------- issue 11 item 15: SDK nulls


def test_assistant_tool_calls_null_is_absent() -> None:
    # What `ChatCompletionMessage.model_dump()` writes for a plain text answer.
    req = decode(messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello", "tool_calls": None, "refusal": None,
         "function_call": None, "audio": None, "annotations": []},
        {"role": "user", "content": "again"},
    ])
    message = req.messages[1]
    assert isinstance(message, AssistantMessage)
    assert message.tool_calls is None and message.content == "hello"


def test_embedding_nulls_are_absent() -> None:
    req = EMBEDDING_REQUEST_DECODER.decode(json.dumps(
        {"model": "e", "input": "x", "dimensions": None, "user": None, "encoding_format": None}
    ))
    assert req.dimensions is None and req.user is None and req.encoding_format is None
    assert req.output_dimensions() is None and not req.wants_base64()
    assert EMBEDDING_REQUEST_DECODER.decode(b'{"model": "e", "input": "x", "dimensions": 8}').output_dimensions() == 8


@pytest.mark.parametrize(("fields", "param"), [({"dimensions": 0}, "dimensions"), ({"encoding_format": "hex"}, "encoding_format")])
def test_embedding_values_are_still_checked(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(msgspec.ValidationError) as ex:
        EMBEDDING_REQUEST_DECODER.decode(json.dumps({"model": "e", "input": "x", **fields}))
    assert param_from_validation_error(str(ex.value)) == param


# ---------------------------------------------------------------- issue 11 item 14: OpenAI-only shapes


def test_openai_only_shapes_decode() -> None:
    from gateway.contracts.openai import (
        AllowedToolsChoice,
        CustomTool,
        CustomToolCall,
        CustomToolChoice,
        FunctionMessage,
    )

    req = decode(
        messages=[
            {"role": "user", "content": "q"},
            {"role": "function", "name": "f", "content": None},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "c", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "1"},
        ],
        tools=[{"type": "custom", "custom": {"name": "sql", "format": {"type": "text"}}},
               {"type": "function", "function": {"name": "f"}}],
        tool_choice={"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "custom", "custom": {"name": "sql"}}]}},
    )
    assert isinstance(req.messages[1], FunctionMessage) and req.messages[1].name == "f"
    assistant = req.messages[2]
    assert isinstance(assistant, AssistantMessage) and isinstance(assistant.tool_calls, list)
    assert isinstance(assistant.tool_calls[0], CustomToolCall) and assistant.tool_calls[0].custom.input == "SELECT 1"
    assert isinstance(req.tools, list) and isinstance(req.tools[0], CustomTool)
    assert isinstance(req.tool_choice, AllowedToolsChoice) and req.tool_choice.allowed_tools.mode == "auto"
    assert isinstance(decode(tool_choice={"type": "custom", "custom": {"name": "sql"}}).tool_choice, CustomToolChoice)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "sometimes", "tools": []}}},
         "tool_choice.allowed_tools.mode"),
        ({"tools": [{"type": "custom", "custom": {}}]}, "tools[0].custom.name"),
        ({"tools": [{"type": "web", "web": {}}]}, "tools[0].type"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].name"),
    ],
)
def test_openai_only_shapes_are_still_validated(fields: dict[str, Any], param: str) -> None:
    assert param_of(**fields) == param


# ---------------------------------------------------------------- issue 11 item 8: cache_control


def test_cache_control_decodes_on_text_parts_system_messages_and_tools() -> None:
    from gateway.contracts.openai import SystemMessage, TextPart, Tool

    mark = {"type": "ephemeral", "ttl": "1h"}
    req = decode(
        messages=[{"role": "system", "content": "s", "cache_control": {"type": "ephemeral"}},
                  {"role": "user", "content": [{"type": "text", "text": "u", "cache_control": mark}]}],
        tools=[{"type": "function", "function": {"name": "f"}, "cache_control": {"type": "ephemeral"}}],
    )
    system, user = req.messages[0], req.messages[1]
    assert isinstance(system, SystemMessage) and system.cache_control is not msgspec.UNSET
    assert isinstance(user.content, list) and isinstance(user.content[0], TextPart)
    assert user.content[0].cache_control.ttl == "1h"  # type: ignore[union-attr]
    assert isinstance(req.tools, list) and isinstance(req.tools[0], Tool) and req.tools[0].cache_control is not msgspec.UNSET


@pytest.mark.parametrize(
    ("mark", "param"),
    [({"type": "persistent"}, "messages[0].content[0].cache_control.type"),
     ({"type": "ephemeral", "ttl": "2d"}, "messages[0].content[0].cache_control.ttl")],
)
def test_bad_cache_control_names_the_param(mark: dict[str, Any], param: str) -> None:
    assert param_of(messages=[{"role": "user", "content": [{"type": "text", "text": "u", "cache_control": mark}]}]) == param
