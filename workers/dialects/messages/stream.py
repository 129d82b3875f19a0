"""Chat output -> Anthropic Messages events (pure): the `Output` of this dialect (workers/frames.py).

A stream becomes `message_start`, `ping`, then one content block per run of reasoning
(`thinking`), text (`text`) or tool call (`tool_use`), each opened by
`content_block_start`, fed by `content_block_delta`s and closed by `content_block_stop`;
then `message_delta` (stop reason, usage) and `message_stop`. Usage arrives with the
stream's end (the sink's `done`), so `message_start` reports zero tokens and
`message_delta` the final counts, input included, as newer Anthropic streams do.

Anthropic streams one block at a time, but a chat stream may interleave the argument
fragments of parallel tool calls (indices 0, 1, 0, 1). A call streams live while it is
the open block; another call's fragments wait until the open call's arguments are whole
JSON (or another kind of block is open), then its block opens with what it gathered;
calls still waiting at the end are sent whole then.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import assert_never

import msgspec

from gateway.contracts import anthropic_messages as am
from gateway.contracts.errors import OpenAIError, upstream_error
from gateway.contracts.openai import ChatCompletionChunk, ToolCallDelta, Usage
from workers.dialects.messages.response import matched_stop, to_message, to_message_usage, to_stop
from workers.providers.base import UpstreamError

_CHUNK = msgspec.json.Decoder(ChatCompletionChunk)


@dataclass(slots=True)
class _Open:
    """The block being streamed: its kind, its index, and for a tool call its chat index."""

    kind: str  # "thinking" | "text" | "tool_use"
    index: int
    call: int = -1


@dataclass(slots=True)
class _Call:
    """One chat tool call: its id, name and arguments so far, and whether its block is
    not yet opened ("waiting"), open, or stopped ("closed")."""

    id: str
    name: str
    arguments: str = ""
    state: str = "waiting"


def _whole_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


class MessagesOutput:
    """Converts one job's chat output (a completion, or a stream of chunks)."""

    def __init__(self, msg_id: str, model: str, caller_param: Callable[[str], str] | None = None) -> None:
        self._caller_param = caller_param  # chat's parameter -> the Messages field (params.py)
        self._id = msg_id
        self._model = model
        self._started = False
        self._open: _Open | None = None
        self._blocks = 0
        self._finish: str | None = None
        self._calls: dict[int, _Call] = {}  # by chat index
        self._refused = False
        self._stop_sequence: str | None = None  # where the upstream names the one that ended it

    def result(self, body: msgspec.Struct | msgspec.Raw, usage: Usage) -> msgspec.Struct:
        """A whole completion -> a Message."""
        return to_message(body, usage, self._id, self._model)

    def chunk(self, chunk: msgspec.Struct | msgspec.Raw) -> list[msgspec.Struct]:
        """The events of one chat chunk."""
        if isinstance(chunk, msgspec.Raw):
            try:
                decoded = _CHUNK.decode(chunk)
            except msgspec.DecodeError as ex:
                raise UpstreamError.of(upstream_error(f"upstream sent an unreadable chunk: {ex}")) from ex
        elif isinstance(chunk, ChatCompletionChunk):
            decoded = chunk
        else:
            raise TypeError(f"not a chat chunk: {type(chunk).__name__}")
        events: list[msgspec.Struct] = self._start()
        for choice in decoded.choices[:1]:
            delta = choice.delta
            if isinstance(delta.reasoning_content, str) and delta.reasoning_content:
                events += self._to("thinking")
                events.append(self._delta(am.ThinkingDelta(delta.reasoning_content)))
            if isinstance(delta.content, str) and delta.content:
                events += self._to("text")
                events.append(self._delta(am.TextDelta(delta.content)))
            if isinstance(delta.refusal, str) and delta.refusal:
                # Anthropic writes a refusal as text, ended by stop_reason "refusal"
                self._refused = True
                events += self._to("text")
                events.append(self._delta(am.TextDelta(delta.refusal)))
            if isinstance(delta.tool_calls, list):
                for call in delta.tool_calls:
                    events += self._tool_call(call)
            if choice.finish_reason:
                self._finish = choice.finish_reason
                self._stop_sequence = matched_stop(chunk) if isinstance(chunk, msgspec.Raw) else None
        return events

    def done(self, usage: Usage) -> list[msgspec.Struct]:
        """Close the open block, send the calls still waiting, then `message_delta` and `message_stop`."""
        events = self._start() + self._close()
        for index in sorted(i for i, c in self._calls.items() if c.state == "waiting"):
            events += self._open_call(index) + self._close()
        stop = to_stop("content_filter" if self._refused else self._finish, self._stop_sequence)
        events.append(am.MessageDelta(delta=stop, usage=to_message_usage(usage)))
        events.append(am.MessageStop())
        return events

    def failed(self, error: OpenAIError) -> None:
        """An error frame: the gateway writes Anthropic's `error` event (gateway/sse_framing.py);
        a 400 names the caller's Messages field, not the chat parameter it became."""
        if self._caller_param is not None and error.param:
            param = self._caller_param(error.param)
            if param != error.param:
                error.message = error.message.replace(f"'{error.param}'", f"'{param}'")
                error.param = param
        return None

    async def settle(self) -> None:
        """Nothing is kept."""

    # ------------------------------------------------------------ blocks

    def _start(self) -> list[msgspec.Struct]:
        if self._started:
            return []
        self._started = True
        shell = am.Message(id=self._id, model=self._model, content=[], stop_reason=None,
                           usage=am.MessageUsage())
        return [am.MessageStart(shell), am.Ping()]

    def _close(self) -> list[msgspec.Struct]:
        if self._open is None:
            return []
        if self._open.kind == "tool_use":
            self._calls[self._open.call].state = "closed"
        index, self._open = self._open.index, None
        return [am.ContentBlockStop(index)]

    def _open_block(self, block: am.OutBlock, call: int = -1) -> list[msgspec.Struct]:
        events = self._close()
        index = self._blocks
        self._blocks += 1
        match block:
            case am.OutThinking():
                kind = "thinking"
            case am.OutText():
                kind = "text"
            case am.OutToolUse():
                kind = "tool_use"
            case _:
                assert_never(block)
        self._open = _Open(kind, index, call)
        events.append(am.ContentBlockStart(index, block))
        return events

    def _to(self, kind: str) -> list[msgspec.Struct]:
        """Make sure a block of `kind` is open (text and thinking)."""
        if self._open is not None and self._open.kind == kind:
            return []
        block: am.OutBlock = am.OutThinking(thinking="") if kind == "thinking" else am.OutText(text="")
        return self._open_block(block)

    def _delta(self, delta: am.BlockDelta) -> am.ContentBlockDelta:
        assert self._open is not None
        return am.ContentBlockDelta(self._open.index, delta)

    def _tool_call(self, delta: ToolCallDelta) -> list[msgspec.Struct]:
        function = delta.function if isinstance(delta.function, msgspec.Struct) else None
        fragment = function.arguments if function is not None and isinstance(function.arguments, str) else ""
        call = self._calls.get(delta.index)
        if call is None:
            call_id = delta.id if isinstance(delta.id, str) else f"toolu_{self._id}_{delta.index}"
            name = function.name if function is not None and isinstance(function.name, str) else ""
            call = self._calls[delta.index] = _Call(call_id, name)
        elif not call.name and function is not None and isinstance(function.name, str):
            call.name = function.name  # a name in a later fragment, before the block opened
        if call.state == "open":
            call.arguments += fragment
            return [self._delta(am.InputJsonDelta(fragment))] if fragment else []
        if call.state == "closed":
            if fragment.strip():
                raise UpstreamError.of(upstream_error(
                    f"upstream sent more arguments for tool call {delta.index} after its arguments were complete."))
            return []
        call.arguments += fragment
        open_ = self._open
        if open_ is None or open_.kind != "tool_use" or _whole_json(self._calls[open_.call].arguments):
            return self._open_call(delta.index)
        return []  # the open call is not finished: this one waits

    def _open_call(self, index: int) -> list[msgspec.Struct]:
        """Open the block of a waiting call, with the arguments it gathered so far."""
        call = self._calls[index]
        events = self._open_block(am.OutToolUse(id=call.id, name=call.name, input={}), index)
        call.state = "open"
        if call.arguments:
            events.append(self._delta(am.InputJsonDelta(call.arguments)))
        return events
