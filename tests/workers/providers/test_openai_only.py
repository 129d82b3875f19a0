"""OpenAI-only shapes on converted providers (issue 11, item 14): a 400 naming the param.

OpenAI accepts them (OpenAI-kind routes forward them as sent, see tests/e2e); Claude and
Gemini have no equivalent, so both converters refuse them the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from gateway.contracts.openai import CHAT_REQUEST_DECODER
from workers.providers.anthropic.request import to_messages_request
from gateway.contracts.config import ModelOptions
from workers.providers.base import ConversionError, Target
from workers.providers.gemini.request import to_generate_content_request

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
GRAMMAR = {"type": "custom", "custom": {"name": "sql", "description": "SQL",
                                        "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: /.+/"}}}}
CUSTOM_CALL_HISTORY = [
    {"role": "user", "content": "count users"},
    {"role": "assistant", "content": None,
     "tool_calls": [{"id": "call_1", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "1"},
]
FUNCTION_ROLE_HISTORY = [
    {"role": "user", "content": "weather?"},
    {"role": "function", "name": "get_weather", "content": "sunny"},
]
ALLOWED = {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "get_weather"}}]}}

CLAUDE = Target("https://api.anthropic.com", "k", "claude-up", "claude", ModelOptions(max_output_tokens=4096))


def _claude(body: dict[str, Any]) -> None:
    req = CHAT_REQUEST_DECODER.decode(json.dumps(body).encode())
    to_messages_request(req, CLAUDE, False)


def _gemini(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    to_generate_content_request(CHAT_REQUEST_DECODER.decode(raw), raw)


CONVERTERS: dict[str, Callable[[dict[str, Any]], None]] = {"Claude": _claude, "Gemini": _gemini}


@pytest.mark.parametrize("provider", sorted(CONVERTERS))
@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [WEATHER, GRAMMAR]}, "tools[1]"),
        ({"tools": [WEATHER], "tool_choice": ALLOWED}, "tool_choice"),
        ({"tools": [WEATHER], "tool_choice": {"type": "custom", "custom": {"name": "sql"}}}, "tool_choice"),
        ({"messages": CUSTOM_CALL_HISTORY}, "messages[1].tool_calls[0]"),
        ({"messages": FUNCTION_ROLE_HISTORY}, "messages[1].role"),
    ],
)
def test_openai_only_shapes_are_a_400_naming_the_param(provider: str, fields: dict[str, Any], param: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    with pytest.raises(ConversionError) as info:
        CONVERTERS[provider](body)
    assert info.value.status == 400
    assert info.value.error.param == param
    assert info.value.error.type == "invalid_request_error"
    assert provider in info.value.error.message
