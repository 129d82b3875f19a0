"""400s on converted routes name the Responses caller's own field, never the chat
parameter it became (audit 2026-12-03, finding 10), whether the provider's conversion or
the upstream refused it."""

from __future__ import annotations

from typing import Any

import openai
import pytest

WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}


def refusal(client: openai.OpenAI, **body: Any) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(**body)
    error: dict[str, Any] = caught.value.body  # type: ignore[assignment]
    return error


@pytest.mark.parametrize("model", ["claude-r", "gemini-r"])
def test_an_unanswered_function_call_names_its_input_item(rclient: openai.OpenAI, model: str) -> None:
    error = refusal(rclient, model=model, tools=[WEATHER], input=[
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"role": "user", "content": "and?"},
    ])
    assert error["param"] == "input[1]", error
    assert "messages" not in error["param"] and error["type"] == "invalid_request_error"


def test_an_upstream_400_names_the_callers_field(rclient: openai.OpenAI) -> None:
    # the fake OpenAI answers "Invalid 'messages': ..." with param `messages`
    error = refusal(rclient, model="gpt-conv", input="#scenario error_400")
    assert error["param"] == "input" and "Invalid 'input'" in error["message"], error


def test_a_provider_refusal_names_the_callers_parameter(rclient: openai.OpenAI) -> None:
    # Claude makes JSON output by forcing a tool: not together with the caller's own tools.
    error = refusal(rclient, model="claude-r", input="x", tools=[WEATHER], text={"format": {
        "type": "json_schema", "name": "r", "schema": {"type": "object", "properties": {}}}})
    assert error["param"] == "text.format" and error["message"].startswith("'text.format' cannot"), error
