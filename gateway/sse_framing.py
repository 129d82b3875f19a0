"""How one dialect's stream is written as SSE: events, the mid-stream error, the end.

Chat Completions writes `data: <chunk>` and ends with `data: [DONE]`; Anthropic Messages
names every event (`event: <type>`), reports a mid-stream failure as an `error` event in
its own error shape and has no end marker (`message_stop` is its last event); Responses
events arrive framed by the worker (`event:` + `data:`, no end marker). Workers send each
event; the relay frames it as the request's dialect spec says (gateway/dialects/).
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from gateway.contracts import anthropic_messages
from gateway.contracts.errors import APIError, ERROR_ENCODER, ErrorBody
from gateway.runtime.estimate import chunk_chars, messages_event_chars, responses_event_chars

DONE_EVENT = b"data: [DONE]\n\n"


class Framing(Protocol):
    """One dialect's SSE framing."""

    def event(self, data: bytes) -> bytes:
        """One event carrying the JSON `data`."""
        ...

    def error(self, ex: APIError) -> bytes:
        """A mid-stream error, and whatever ends the stream after it."""
        ...

    def end(self) -> bytes:
        """What follows the last event of a completed stream."""
        ...

    def output_chars(self, data: bytes) -> int:
        """Characters of output in one event (content, refusals, reasoning, tool names and
        arguments, as workers count them), for the estimate a stream whose worker died is billed."""
        ...


class ChatFraming:
    """OpenAI Chat Completions: unnamed events, `[DONE]` at the end."""

    def event(self, data: bytes) -> bytes:
        """`data: <json>`."""
        return b"data: " + data + b"\n\n"

    def error(self, ex: APIError) -> bytes:
        """An OpenAI-shaped error event (the SDK raises APIError on it), then `[DONE]`."""
        return b"data: " + ERROR_ENCODER.encode(ErrorBody(ex.error)) + b"\n\n" + DONE_EVENT

    def end(self) -> bytes:
        """`data: [DONE]`."""
        return DONE_EVENT

    def output_chars(self, data: bytes) -> int:
        """The chunk's output (gateway/runtime/estimate.py)."""
        return chunk_chars(data)


class _EventType(msgspec.Struct):
    type: str = "message"


_EVENT_TYPE = msgspec.json.Decoder(_EventType)


class MessagesFraming:
    """Anthropic Messages: `event: <type>` named from the JSON's own `type`."""

    def event(self, data: bytes) -> bytes:
        """`event: <type>` + `data: <json>`."""
        kind = _EVENT_TYPE.decode(data).type
        return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"

    def error(self, ex: APIError) -> bytes:
        """An `error` event in Anthropic's shape (the SDK raises APIStatusError on it)."""
        body = anthropic_messages.error_body(ex.status, ex.error.message, ex.error.code, ex.error.param)
        return b"event: error\ndata: " + body + b"\n\n"

    def end(self) -> bytes:
        """Nothing: `message_stop` was the last event."""
        return b""

    def output_chars(self, data: bytes) -> int:
        """The event's output (gateway/runtime/estimate.py)."""
        return messages_event_chars(data)


_RESPONSES_ERROR = msgspec.json.Encoder()


class ResponsesFraming:
    """OpenAI Responses: the worker sends each event already framed (`event:` + `data:`)."""

    def event(self, data: bytes) -> bytes:
        """As the worker framed it."""
        return data

    def error(self, ex: APIError) -> bytes:
        """A Responses `error` event (the gateway's own: a stalled stream, a lost worker).

        NOTE: the gateway does not follow the stream's numbering, hence sequence_number 0.
        """
        event = {"type": "error", "code": ex.error.code or ex.error.type, "message": ex.error.message,
                 "param": ex.error.param, "sequence_number": 0}
        return b"event: error\ndata: " + _RESPONSES_ERROR.encode(event) + b"\n\n"

    def end(self) -> bytes:
        """Nothing: `response.completed` (or `.failed`) was the last event."""
        return b""

    def output_chars(self, data: bytes) -> int:
        """The output of the event inside the worker's framing (gateway/runtime/estimate.py)."""
        start = data.find(b"data: ")
        return responses_event_chars(data[start + 6:].strip()) if start >= 0 else 0
