"""Chat parameter names -> the Responses caller's fields (workers/dialects/responses/params.py)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from gateway.contracts.errors import invalid_request
from gateway.contracts.openai_responses import RESPONSES_REQUEST_DECODER
from workers.dialects.responses.params import Places
from workers.dialects.responses.request import request_items, to_chat_request

HISTORY = [{"role": "user", "content": "earlier"}]
INPUT: list[dict[str, Any]] = [
    {"role": "developer", "content": "rules"},                                               # input[0]
    {"role": "user", "content": [{"type": "input_text", "text": "hi"},
                                 {"type": "input_image", "image_url": "https://x/a.png"}]},  # input[1]
    {"type": "reasoning", "id": "rs_1", "summary": []},                                      # input[2]
    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},              # input[3]
    {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},              # input[4]
    {"type": "function_call_output", "call_id": "c1", "output": [
        {"type": "input_text", "text": "ok"}, {"type": "input_image", "image_url": "https://x/b.png"}]},  # input[5]
    {"type": "function_call_output", "call_id": "c2", "output": "done"},                     # input[6]
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "so"}]},  # input[7]
]
TOOLS = [{"type": "function", "name": "f"},
         {"type": "namespace", "name": "ns", "description": "d", "tools": [{"type": "function", "name": "g"}]}]


def caller(kind: str = "openai") -> Any:
    req = RESPONSES_REQUEST_DECODER.decode(json.dumps({"model": "m", "instructions": "be brief", "input": INPUT,
                                                       "tools": TOOLS}))
    items = [msgspec.Raw(json.dumps(h).encode()) for h in HISTORY] + request_items(req)
    converted = to_chat_request(req, items, False, kind)
    # chat: [0] system (instructions), [1] history user, [2] developer, [3] user, [4] assistant (2 calls),
    # [5] tool c1, [6] tool c2, [7] user (c1's image: OpenAI-kind only), [8] assistant
    names = ["SystemMessage", "UserMessage", "DeveloperMessage", "UserMessage", "AssistantMessage", "ToolMessage",
             "ToolMessage", "UserMessage", "AssistantMessage"]
    assert [m.__class__.__name__ for m in converted.chat.messages] == (names if kind == "openai" else
                                                                       names[:7] + names[8:])
    return converted.places.caller


@pytest.mark.parametrize(("chat", "responses"), [
    ("messages[0]", "instructions"),
    ("messages[1].content", "previous_response_id"),
    ("messages[2].content", "input[0].content"),
    ("messages[3].content[1].image_url.url", "input[1].content[1].image_url"),
    ("messages[4].tool_calls[0]", "input[3]"),
    ("messages[4].tool_calls[1].function.arguments", "input[4].arguments"),
    ("messages[4].tool_calls[1].id", "input[4].call_id"),
    ("messages[5].tool_call_id", "input[5].call_id"),
    ("messages[5].content[0].text", "input[5].output[0].text"),
    ("messages[6].content", "input[6].output"),
    ("messages[7].content[0].image_url.url", "input[5].output[1].image_url"),
    ("messages[8].content[0]", "input[7].content[0]"),
    ("messages[99]", "input"),
    ("messages", "input"),
    ("tools[0].function.parameters", "tools[0].parameters"),
    ("tools[1].function.name", "tools[1].tools[0].name"),
    ("response_format", "text.format"),
    ("response_format.json_schema", "text.format.json_schema"),
    ("max_completion_tokens", "max_output_tokens"),
    ("max_tokens", "max_output_tokens"),
    ("reasoning_effort", "reasoning.effort"),
    ("verbosity", "text.verbosity"),
    ("tool_choice", "tool_choice"),
    ("parallel_tool_calls", "parallel_tool_calls"),
    ("temperature", "temperature"),
])
def test_chat_params_name_the_callers_field(chat: str, responses: str) -> None:
    assert caller()(chat) == responses


def test_a_tool_outputs_image_kept_in_its_tool_message_is_named_in_the_output() -> None:
    assert caller("anthropic")("messages[5].content[1].image_url.url") == "input[5].output[1].image_url"
    assert caller("gemini")("messages[7].content[0]") == "input[7].content[0]"


def test_an_error_is_renamed_in_its_param_and_its_message() -> None:
    places = Places()
    places.message("input[0]")
    error = invalid_request("'response_format' (JSON) cannot be combined with 'tools' or 'reasoning_effort'; "
                            "see 'messages[0].content' and 'messages'.", "response_format").error
    places.rename(error)
    assert error.param == "text.format"
    assert error.message == ("'text.format' (JSON) cannot be combined with 'tools' or 'reasoning.effort'; "
                             "see 'input[0].content' and 'input'.")
