"""SSE framing per dialect: chat's `data:` + `[DONE]`, Anthropic's named events."""

from __future__ import annotations

import json

from gateway.contracts.errors import rate_limited, upstream_timeout
from gateway.sse_framing import framing_for


def test_chat_events_are_unnamed_and_end_with_done() -> None:
    chat = framing_for("chat")
    assert chat.event(b'{"id":"x"}') == b'data: {"id":"x"}\n\n'
    assert chat.end() == b"data: [DONE]\n\n"
    error = chat.error(upstream_timeout("late"))
    assert error.endswith(b"data: [DONE]\n\n")
    assert json.loads(error.split(b"\n\n")[0].removeprefix(b"data: "))["error"]["code"] == "upstream_timeout"


def test_messages_events_are_named_by_their_type_and_have_no_end_marker() -> None:
    messages = framing_for("messages")
    assert messages.event(b'{"type":"message_stop"}') == b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    assert messages.end() == b""


def test_a_messages_error_event_is_in_anthropics_shape() -> None:
    event = framing_for("messages").error(rate_limited("slow down"))
    head, data = event.rstrip(b"\n").split(b"\n")
    assert head == b"event: error"
    assert json.loads(data.removeprefix(b"data: ")) == {
        "type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}


def test_an_unknown_dialect_frames_as_chat() -> None:
    assert framing_for("other").end() == b"data: [DONE]\n\n"
