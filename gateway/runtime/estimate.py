"""Token estimates, for every process: what is billed when no upstream count comes.

About four characters a token. Workers estimate a prompt an upstream never counted and
the output of a stream cut before its count came; the gateway estimates a prompt at
admission and what it relayed when a worker died mid-stream. Both count the output
characters of a frame here, so the two estimates of one stream agree: content,
refusals, reasoning, and tool calls (names and arguments), in each shape a stream takes
on its way (chat chunks, Anthropic Messages events, OpenAI Responses events).
"""

from __future__ import annotations

import msgspec
from msgspec import UnsetType

from gateway.contracts.openai import ChatCompletionChunk

CHARS_PER_TOKEN = 4


def tokens_from_chars(chars: int) -> int:
    """About four characters a token, at least one for any text."""
    return (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN if chars > 0 else 0


def prompt_from_bytes(size: int) -> int:
    """A cheap prompt estimate from a request body's size (never 0: a request costs)."""
    return max(1, size // CHARS_PER_TOKEN)


def _text(*parts: str | None | UnsetType) -> int:
    return sum(len(p) for p in parts if isinstance(p, str))


# ------------------------------------------------------------------ chat chunks


class _FunctionText(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCallText(msgspec.Struct):
    function: _FunctionText | None = None


class _DeltaText(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None  # what some OpenAI-compatible servers call it
    tool_calls: list[_ToolCallText] | None = None


class _ChoiceText(msgspec.Struct):
    delta: _DeltaText | None = None


class _ChunkText(msgspec.Struct):
    """The output text of one chunk, and nothing else (decoding more would cost more)."""

    choices: list[_ChoiceText] | None = None


_CHUNK_TEXT = msgspec.json.Decoder(_ChunkText)


def chunk_chars(chunk: ChatCompletionChunk | msgspec.Raw | bytes) -> int:
    """Output characters of one chat chunk, a struct or its JSON (0 if unreadable)."""
    if isinstance(chunk, ChatCompletionChunk):
        total = 0
        for choice in chunk.choices:
            d = choice.delta
            # PERF: one call per streamed chunk in the worker; plain tests, no generator
            if isinstance(d.content, str):
                total += len(d.content)
            if isinstance(d.refusal, str):
                total += len(d.refusal)
            if isinstance(d.reasoning_content, str):
                total += len(d.reasoning_content)
            if isinstance(d.tool_calls, list):
                for call in d.tool_calls:
                    if not isinstance(call.function, UnsetType):
                        total += _text(call.function.name, call.function.arguments)
        return total
    try:
        choices = _CHUNK_TEXT.decode(chunk).choices
    except msgspec.DecodeError:
        return 0  # a pass-through chunk of another shape: nothing we can count
    total = 0
    # PERF: the gateway counts every relayed chunk; plain expressions, no generators
    for text_choice in choices or ():
        delta = text_choice.delta
        if delta is None:
            continue
        total += (len(delta.content or "") + len(delta.refusal or "") + len(delta.reasoning_content or "")
                  + len(delta.reasoning or ""))
        for text_call in delta.tool_calls or ():
            if text_call.function is not None:
                total += len(text_call.function.name or "") + len(text_call.function.arguments or "")
    return total


# ------------------------------------------------------------------ Anthropic Messages events


class _MessagesText(msgspec.Struct):
    """A `content_block_delta`'s delta, or a `content_block_start`'s block."""

    text: str | None = None
    partial_json: str | None = None
    thinking: str | None = None
    name: str | None = None  # a tool_use block's tool name


class _MessagesEvent(msgspec.Struct):
    type: str = ""
    delta: _MessagesText | None = None
    content_block: _MessagesText | None = None


_MESSAGES_EVENT = msgspec.json.Decoder(_MessagesEvent)


def messages_event_chars(data: bytes) -> int:
    """Output characters of one Messages event's JSON: a block's text, thinking, tool
    input JSON, and a tool_use block's name."""
    try:
        event = _MESSAGES_EVENT.decode(data)
    except msgspec.DecodeError:
        return 0
    if event.type == "content_block_delta" and event.delta is not None:
        d = event.delta
        return _text(d.text, d.partial_json, d.thinking)
    if event.type == "content_block_start" and event.content_block is not None:
        b = event.content_block
        return _text(b.text, b.thinking, b.name)
    return 0


# ------------------------------------------------------------------ OpenAI Responses events


class _ResponsesItem(msgspec.Struct):
    type: str = ""
    name: str | None = None


class _ResponsesEvent(msgspec.Struct):
    type: str = ""
    delta: str | None = None  # a non-string delta fails the decode: no output counted
    item: _ResponsesItem | None = None


_RESPONSES_EVENT = msgspec.json.Decoder(_ResponsesEvent)


def responses_event_chars(data: bytes) -> int:
    """Output characters of one Responses event's JSON: a `*.delta` event's text (output
    text, refusal, reasoning, tool arguments) and a function call item's name."""
    try:
        event = _RESPONSES_EVENT.decode(data)
    except msgspec.DecodeError:
        return 0
    if event.type.endswith(".delta"):
        return len(event.delta) if event.delta is not None else 0
    if event.type == "response.output_item.added" and event.item is not None and event.item.type == "function_call":
        return _text(event.item.name)
    return 0
