"""SSE framing per dialect: chat's `data:` + `[DONE]`, Anthropic's named events."""

from __future__ import annotations

import json

from gateway.contracts.errors import rate_limited, upstream_timeout
from gateway.sse_framing import ChatFraming, Framing, MessagesFraming, ResponsesFraming

FRAMINGS: dict[str, Framing] = {"chat": ChatFraming(), "messages": MessagesFraming(), "responses": ResponsesFraming()}


def test_chat_events_are_unnamed_and_end_with_done() -> None:
    chat = FRAMINGS["chat"]
    assert chat.event(b'{"id":"x"}') == b'data: {"id":"x"}\n\n'
    assert chat.end() == b"data: [DONE]\n\n"
    error = chat.error(upstream_timeout("late"))
    assert error.endswith(b"data: [DONE]\n\n")
    assert json.loads(error.split(b"\n\n")[0].removeprefix(b"data: "))["error"]["code"] == "upstream_timeout"


def test_messages_events_are_named_by_their_type_and_have_no_end_marker() -> None:
    messages = FRAMINGS["messages"]
    assert messages.event(b'{"type":"message_stop"}') == b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    assert messages.end() == b""


def test_a_messages_error_event_is_in_anthropics_shape() -> None:
    event = FRAMINGS["messages"].error(rate_limited("slow down"))
    head, data = event.rstrip(b"\n").split(b"\n")
    assert head == b"event: error"
    assert json.loads(data.removeprefix(b"data: ")) == {
        "type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}


def test_each_dialect_spec_names_its_framing() -> None:
    from gateway.dialects.table import DIALECTS
    assert {spec.routes[0]: type(spec.framing) for spec in DIALECTS} == {
        "/v1/chat/completions": ChatFraming, "/v1/embeddings": ChatFraming, "/v1/messages": MessagesFraming,
        "/v1/responses": ResponsesFraming}


def test_each_dialect_counts_the_output_text_of_its_events() -> None:
    chat = b'{"choices":[{"delta":{"content":"Hello","tool_calls":[{"function":{"arguments":"{}"}}]}}]}'
    assert FRAMINGS["chat"].output_chars(chat) == len("Hello") + 2
    messages = FRAMINGS["messages"]
    assert messages.output_chars(b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"abc"}}') == 3
    assert messages.output_chars(
        b'{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"a\\":"}}') == 5
    assert messages.output_chars(b'{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{}}') == 0
    responses = FRAMINGS["responses"]
    text = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"four","sequence_number":3}\n\n'
    assert responses.output_chars(text) == 4
    args = b'event: x\ndata: {"type":"response.function_call_arguments.delta","delta":"{\\"q\\":1}"}\n\n'
    assert responses.output_chars(args) == len('{"q":1}')
    assert responses.output_chars(b'event: response.created\ndata: {"type":"response.created","response":{}}\n\n') == 0
    assert responses.output_chars(b"not an event") == 0
