"""Chat output -> Anthropic Messages output, whole responses (pure).

finish_reason -> stop_reason and usage -> Anthropic's usage live here too; the stream
converter (`stream.py`) uses the same two.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from gateway.contracts import anthropic_messages as am
from gateway.contracts.errors import upstream_error
from gateway.contracts.openai import ChatCompletion, ToolCall, Usage
from workers.providers.base import UpstreamError

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                 "function_call": "tool_use", "content_filter": "refusal"}
_COMPLETION = msgspec.json.Decoder(ChatCompletion)


class _StopChoice(msgspec.Struct):
    stop_reason: str | int | None = None


class _StopPeek(msgspec.Struct):
    choices: list[_StopChoice] = []


_STOP_PEEK = msgspec.json.Decoder(_StopPeek)


def matched_stop(raw: msgspec.Raw) -> str | None:
    """The stop sequence that ended the first choice, where the upstream names it
    (vLLM-style servers' `stop_reason`; OpenAI itself names none, so its replies stay
    `end_turn`)."""
    if b'"stop_reason"' not in bytes(raw):  # PERF: most chunks are not decoded twice
        return None
    try:
        choices = _STOP_PEEK.decode(raw).choices
    except msgspec.DecodeError:
        return None
    reason = choices[0].stop_reason if choices else None
    return reason if isinstance(reason, str) and reason else None


def to_stop(finish_reason: str | None, stop_sequence: str | None) -> am.StopDelta:
    """How the reply ended: Anthropic's `stop_sequence` with the string when one ended it."""
    if finish_reason == "stop" and stop_sequence:
        return am.StopDelta(stop_reason="stop_sequence", stop_sequence=stop_sequence)
    return am.StopDelta(stop_reason=to_stop_reason(finish_reason))


def to_stop_reason(finish_reason: str | None) -> str:
    """OpenAI's finish_reason -> Anthropic's stop_reason (unknown ones end the turn)."""
    return _STOP_REASONS.get(finish_reason or "stop", "end_turn")


def to_message_usage(usage: Usage) -> am.MessageUsage:
    """Chat usage -> Anthropic's: `input_tokens` excludes cache reads and writes there."""
    cached, written = usage.cached_tokens(), usage.cache_write_tokens()
    return am.MessageUsage(
        input_tokens=max(0, usage.prompt_tokens - cached - written),
        output_tokens=usage.completion_tokens,
        cache_creation_input_tokens=written,
        cache_read_input_tokens=cached,
    )


def tool_input(arguments: str) -> Any:
    """A tool call's arguments (JSON text) -> the `input` object; non-JSON is kept as text
    under `"arguments"` rather than dropped, so the caller sees what the model sent."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"arguments": value}


def message_id(request_id: str) -> str:
    """The Messages id of one request (`msg_<request id>`)."""
    return f"msg_{request_id}"


def to_message(body: msgspec.Struct | msgspec.Raw, usage: Usage, msg_id: str, model: str) -> am.Message:
    """A chat completion (one choice) -> a Message."""
    if isinstance(body, msgspec.Raw):
        try:
            completion = _COMPLETION.decode(body)
        except msgspec.DecodeError as ex:
            raise UpstreamError.of(upstream_error(f"upstream sent an unreadable completion: {ex}")) from ex
    elif isinstance(body, ChatCompletion):
        completion = body
    else:
        raise TypeError(f"not a chat completion: {type(body).__name__}")
    content: list[am.OutBlock] = []
    finish: str | None = None
    matched = matched_stop(body) if isinstance(body, msgspec.Raw) else None
    if completion.choices:
        choice = completion.choices[0]
        finish = choice.finish_reason
        message = choice.message
        if isinstance(message.reasoning_content, str) and message.reasoning_content:
            content.append(am.OutThinking(thinking=message.reasoning_content))
        if message.content:
            content.append(am.OutText(text=message.content))
        if message.refusal:  # Anthropic writes a refusal as text, ended by stop_reason "refusal"
            content.append(am.OutText(text=message.refusal))
            finish = "content_filter"
        if isinstance(message.tool_calls, list):
            for call in message.tool_calls:
                if isinstance(call, ToolCall):
                    content.append(am.OutToolUse(id=call.id, name=call.function.name,
                                                 input=tool_input(call.function.arguments)))
    stop = to_stop(finish, matched)
    return am.Message(id=msg_id, model=model, content=content, stop_reason=stop.stop_reason,
                      stop_sequence=stop.stop_sequence, usage=to_message_usage(usage))
