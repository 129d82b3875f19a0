"""Chat parameters an error names -> the Messages fields the caller sent (issue 21)."""

from __future__ import annotations

import msgspec
import pytest

from gateway.contracts.anthropic_messages import MESSAGES_REQUEST_DECODER
from workers.dialects.messages.params import caller_param, origins
from workers.dialects.messages.request import to_chat_messages

IMAGE = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
REQUEST = MESSAGES_REQUEST_DECODER.decode(msgspec.json.encode({
    "model": "m", "max_tokens": 10, "system": [{"type": "text", "text": "rules"}],
    "tools": [{"name": "f", "input_schema": {"type": "object"}}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "look"}, IMAGE]},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"},
                                          {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                                          {"type": "tool_use", "id": "t2", "name": "f", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "a"}, IMAGE]},
            {"type": "tool_result", "tool_use_id": "t2", "content": "b"},
            {"type": "text", "text": "next"}, IMAGE]},
        {"role": "assistant", "content": "plain"},
    ],
}))


@pytest.mark.parametrize(("chat", "caller"), [
    ("parallel_tool_calls", "tool_choice.disable_parallel_tool_use"),
    ("response_format", "output_config.format"),
    ("reasoning_effort", "thinking"),
    ("stop", "stop_sequences"),
    ("temperature", "temperature"),
    ("tool_choice.function.name", "tool_choice.name"),
    ("tools[0].function.parameters.properties", "tools[0].input_schema.properties"),
    ("tools[0].function.name", "tools[0].name"),
    ("messages[0].content[0].text", "system[0].text"),
    ("messages[1].content[1].image_url.url", "messages[0].content[1].source"),
    ("messages[2].tool_calls[1].function.arguments", "messages[1].content[2].input"),
    ("messages[2].content", "messages[1].content"),
    ("messages[3].tool_call_id", "messages[2].content[0].tool_use_id"),
    ("messages[4].content", "messages[2].content[1].content"),
    # the user message after the tool results: the tool result's image first, then its own parts
    ("messages[5].content[0].image_url.url", "messages[2].content[0].content[1].source"),
    ("messages[5].content[2].image_url.url", "messages[2].content[3].source"),
    ("messages[6].role", "messages[3].role"),
    ("messages[9]", "messages[9]"),  # beyond what the request holds: as it was
])
def test_a_chat_parameter_is_named_as_the_caller_sent_it(chat: str, caller: str) -> None:
    assert caller_param(chat, REQUEST) == caller


def test_the_origins_follow_the_chat_messages_one_for_one() -> None:
    chat = to_chat_messages(REQUEST)
    found = origins(REQUEST)
    assert len(found) == len(chat) == 7
    for message, origin in zip(chat, found, strict=True):
        content = getattr(message, "content", None)
        if isinstance(content, list):
            assert len(origin.parts) == len(content)


def test_a_string_system_and_turns() -> None:
    req = MESSAGES_REQUEST_DECODER.decode(b'{"model":"m","max_tokens":1,"system":"s",'
                                          b'"messages":[{"role":"user","content":"hi"}]}')
    assert caller_param("messages[0].content", req) == "system"
    assert caller_param("messages[1].content", req) == "messages[0].content"
