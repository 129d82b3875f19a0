"""How one dialect's stream is written as SSE: events, the mid-stream error, the end.

Chat Completions writes `data: <chunk>` and ends with `data: [DONE]`; Anthropic Messages
names every event (`event: <type>`), reports a mid-stream failure as an `error` event in
its own error shape and has no end marker (`message_stop` is its last event); Responses
events arrive framed by the worker (`event:` + `data:`, no end marker). Workers send each
event; the relay frames it by the job's dialect.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from gateway.contracts import anthropic_messages
from gateway.contracts.errors import APIError, ERROR_ENCODER, ErrorBody

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
        """Characters of output (text, reasoning, tool arguments) in one event, for the
        estimate a stream whose worker died is billed."""
        ...


class _FunctionText(msgspec.Struct):
    arguments: str | None = None


class _ToolCallText(msgspec.Struct):
    function: _FunctionText | None = None


class _DeltaText(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None
    refusal: str | None = None
    tool_calls: list[_ToolCallText] | None = None


class _ChoiceText(msgspec.Struct):
    delta: _DeltaText | None = None


class _ChunkText(msgspec.Struct):
    """The output text of one chunk, and nothing else (decoding more would cost more)."""

    choices: list[_ChoiceText] = []


_CHUNK_TEXT = msgspec.json.Decoder(_ChunkText)


def chat_output_chars(data: bytes) -> int:
    """Characters of output (text, reasoning, refusal, tool arguments) in one chunk's JSON."""
    try:
        chunk = _CHUNK_TEXT.decode(data)
    except msgspec.DecodeError:
        return 0
    chars = 0
    for choice in chunk.choices:
        delta = choice.delta
        if delta is None:
            continue
        chars += len(delta.content or "") + len(delta.reasoning_content or "") + len(delta.refusal or "")
        for call in delta.tool_calls or ():
            if call.function is not None:
                chars += len(call.function.arguments or "")
    return chars


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
        """The chunk's delta text, reasoning, refusal and tool arguments."""
        return chat_output_chars(data)


class _EventType(msgspec.Struct):
    type: str = "message"


_EVENT_TYPE = msgspec.json.Decoder(_EventType)


class _MessagesDelta(msgspec.Struct):
    text: str = ""
    partial_json: str = ""
    thinking: str = ""


class _MessagesEvent(msgspec.Struct):
    type: str = ""
    delta: _MessagesDelta | None = None


_MESSAGES_EVENT = msgspec.json.Decoder(_MessagesEvent)


class _ResponsesEvent(msgspec.Struct):
    type: str = ""
    delta: str | None = None  # a non-string delta fails the decode: no output counted


_RESPONSES_EVENT = msgspec.json.Decoder(_ResponsesEvent)


class MessagesFraming:
    """Anthropic Messages: `event: <type>` named from the JSON's own `type`."""

    def event(self, data: bytes) -> bytes:
        """`event: <type>` + `data: <json>`."""
        kind = _EVENT_TYPE.decode(data).type
        return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"

    def error(self, ex: APIError) -> bytes:
        """An `error` event in Anthropic's shape (the SDK raises APIStatusError on it)."""
        body = anthropic_messages.error_body(ex.status, ex.error.message, ex.error.code)
        return b"event: error\ndata: " + body + b"\n\n"

    def end(self) -> bytes:
        """Nothing: `message_stop` was the last event."""
        return b""

    def output_chars(self, data: bytes) -> int:
        """A `content_block_delta`'s text, tool-input JSON or thinking."""
        try:
            event = _MESSAGES_EVENT.decode(data)
        except msgspec.DecodeError:
            return 0
        delta = event.delta
        if event.type != "content_block_delta" or delta is None:
            return 0
        return len(delta.text) + len(delta.partial_json) + len(delta.thinking)


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
        """A `*.delta` event's text (output text, tool arguments, reasoning summary, refusal)."""
        start = data.find(b"data: ")
        if start < 0:
            return 0
        try:
            event = _RESPONSES_EVENT.decode(data[start + 6:].strip())
        except msgspec.DecodeError:
            return 0
        return len(event.delta) if event.type.endswith(".delta") and event.delta is not None else 0


_FRAMINGS: dict[str, Framing] = {"chat": ChatFraming(), "messages": MessagesFraming(), "responses": ResponsesFraming()}


def framing_for(dialect: str) -> Framing:
    """The framing of a job's dialect (chat's for any dialect without its own)."""
    return _FRAMINGS.get(dialect) or _FRAMINGS["chat"]
