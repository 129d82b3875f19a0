"""reasoning_effort -> thinking by the model's `thinking` flag (issue 11 item 5).

Budget thinking (the default flag) is covered with the other parameters in test_request.py.
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

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def _wire(target: Target, **fields: Any) -> dict[str, Any]:
    body = {"model": "claude", "messages": [{"role": "user", "content": "Hello"}], **fields}
    req = CHAT_REQUEST_DECODER.decode(json.dumps(body).encode())
    return json.loads(ENCODER.encode(to_messages_request(req, target, False)))


ADAPTIVE = Target(
    base_url="https://api.anthropic.com/",
    api_key="sk-ant-test",
    upstream_model="claude-opus-4-7",
    public_model="claude-opus",
    options=ModelOptions(max_output_tokens=32000, thinking="adaptive"),
)
NO_THINKING = Target(
    base_url="https://api.anthropic.com/",
    api_key="sk-ant-test",
    upstream_model="claude-3-5-haiku",
    public_model="claude-old",
    options=ModelOptions(max_output_tokens=8192, thinking="none"),
)


@pytest.mark.parametrize(
    ("effort", "level"),
    [("minimal", "low"), ("low", "low"), ("medium", "medium"), ("high", "high"), ("xhigh", "xhigh")],
)
def test_adaptive_model_gets_adaptive_thinking_and_an_effort(effort: str, level: str) -> None:
    wire = _wire(ADAPTIVE, reasoning_effort=effort)
    assert wire["thinking"] == {"type": "adaptive"}
    assert wire["output_config"] == {"effort": level}
    assert wire["max_tokens"] == 32000  # no budget is carved out of it


def test_adaptive_model_without_reasoning_effort_sends_neither() -> None:
    for fields in ({}, {"reasoning_effort": "none"}, {"reasoning_effort": None}):
        wire = _wire(ADAPTIVE, **fields)
        assert "thinking" not in wire and "output_config" not in wire


def test_adaptive_model_needs_no_room_for_a_budget() -> None:
    wire = _wire(ADAPTIVE, reasoning_effort="high", max_tokens=500)
    assert wire["max_tokens"] == 500 and wire["thinking"] == {"type": "adaptive"}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": 0.2}, "temperature"),
        ({"top_p": 0.5}, "top_p"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "["}]}, "reasoning_effort"),
        ({"tools": [WEATHER], "tool_choice": "required"}, "tool_choice"),
    ],
)
def test_adaptive_thinking_keeps_thinkings_rules(fields: dict[str, Any], param: str) -> None:
    body = {"reasoning_effort": "low", **fields}
    with pytest.raises(ConversionError) as info:
        _wire(ADAPTIVE, **body)
    assert info.value.error.param == param


def test_model_without_thinking_refuses_reasoning_effort() -> None:
    with pytest.raises(ConversionError) as info:
        _wire(NO_THINKING, reasoning_effort="low")
    assert info.value.error.param == "reasoning_effort"
    assert "claude-old" in info.value.error.message
    assert "thinking" not in _wire(NO_THINKING, reasoning_effort="none")
