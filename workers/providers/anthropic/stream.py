"""Anthropic stream events -> OpenAI chunks, one event at a time (a small state machine).

Events (https://docs.claude.com/en/docs/build-with-claude/streaming): `message_start`,
per block `content_block_start` / `content_block_delta`s / `content_block_stop`,
`message_delta` (stop reason, cumulative usage), `message_stop`; `ping` anywhere; an
`error` event even after HTTP 200; unknown event, block and delta types are ignored.

Chunks (conversion-reference.md 1.3), all for choice `ctx.choice_index`:
- `message_start` -> `{"role": "assistant", "content": ""}`;
- `text_delta` -> `content`; `thinking_delta` -> `reasoning_content` (never `content`);
- a `tool_use` block -> the next tool-call index k (tool calls only, not blocks) with
  id, type and name and `arguments: ""`; its non-empty `input_json_delta`s -> argument
  fragments at k; a call that got no fragment gets `"{}"` at its stop, so the streamed
  arguments equal the non-stream ones. The JSON-mode tool streams as `content` instead;
- a web search (a `server_tool_use` block, its input streamed, then the whole
  `web_search_tool_result` block) -> one `web_searches` delta when the result comes;
- `message_delta` -> the finish chunk `delta: {}` (once); `message_stop` ends the stream.
The usage chunk is not ours to send: the service emits it from `usage()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, assert_never

import msgspec

from gateway.contracts.errors import upstream_error
from gateway.contracts.openai import (
    ChatCompletionChunk,
    ChunkChoice,
    Delta,
    FunctionCallDelta,
    ToolCallDelta,
    Usage,
)
from workers.providers.anthropic.errors import from_error_event, malformed
from workers.providers.anthropic.finish import to_openai_finish_reason
from workers.providers.anthropic.schema import (
    CitationsDelta,
    ContentBlockDelta,
    ContentBlockStart,
    ContentBlockStop,
    ErrorEvent,
    InputJsonDelta,
    MessageDelta,
    MessageStart,
    MessageStop,
    Ping,
    RedactedThinkingBlock,
    SignatureDelta,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ThinkingPart,
    ToolUseBlock,
    decode_block,
    decode_delta,
    decode_event,
)
from workers.providers.anthropic.tools import JSON_TOOL_NAME, encode_call_id
from workers.providers.anthropic.usage import UsageTally
from workers.providers.anthropic.web_search import (
    ServerToolUseBlock,
    WebSearchToolResultBlock,
    query_of,
    to_web_search,
    url_citations,
)
from workers.providers.base import ReplyContext, SseEvent, StreamOutcome, UpstreamError


@dataclass(slots=True)
class _Block:
    """What we remember about one open content block."""

    kind: str  # "text" | "thinking" | "tool" | "json" | "search" | "other"
    tool_index: int = -1
    server_id: str = ""  # a search's server tool call id
    inputs: list[str] = field(default_factory=list)  # a search's input JSON so far
    start: int = 0  # a text block's place in the content
    citations: list[Any] = field(default_factory=list)
    sent_input: bool = False
    thinking: list[str] = field(default_factory=list)
    signature: list[str] = field(default_factory=list)


class AnthropicStream:
    """ChunkConverter for one Anthropic stream (one choice of the caller's completion)."""

    def __init__(self, ctx: ReplyContext) -> None:
        self._ctx = ctx
        self._tally = UsageTally()
        self._blocks: dict[int, _Block] = {}
        self._thinking: list[ThinkingPart] = []  # complete thinking since the last tool call
        self._tool_count = 0
        self._queries: dict[str, str] = {}  # server tool call id -> its query
        self._content_len = 0  # characters of content sent (annotations' indices)
        self._started = False
        self._finished = False
        self._stopped = False

    # ------------------------------------------------------------ protocol

    def feed(self, event: SseEvent) -> list[ChatCompletionChunk | msgspec.Raw]:
        """Chunks for one upstream event; raises UpstreamError on an `error` event."""
        if not event.data.strip():
            return []
        try:
            parsed = decode_event(event.data)
            chunks = self._on_event(parsed) if parsed is not None else []
        except (msgspec.DecodeError, msgspec.ValidationError) as ex:
            raise malformed(f"a malformed stream event ({event.event}): {ex}") from ex
        return list(chunks)

    def usage(self) -> Usage:
        """Usage so far: input from `message_start`, output from the latest `message_delta`
        (0 before it: `message_start`'s output count is a placeholder, see usage.py)."""
        return self._tally.to_openai()

    def close(self) -> StreamOutcome:
        """The end of the upstream body; without `message_stop` the stream was cut."""
        if not self._stopped:
            raise UpstreamError.of(upstream_error("anthropic upstream stream ended early (no message_stop)"))
        return StreamOutcome(usage=self.usage())

    # ------------------------------------------------------------ events

    def _on_event(
        self,
        event: MessageStart
        | ContentBlockStart
        | ContentBlockDelta
        | ContentBlockStop
        | MessageDelta
        | MessageStop
        | Ping
        | ErrorEvent,
    ) -> list[ChatCompletionChunk]:
        match event:
            case MessageStart():
                self._tally.start(event.message.usage)
                return self._start()
            case ContentBlockStart():
                return self._start() + self._on_block_start(event)
            case ContentBlockDelta():
                return self._on_delta(event)
            case ContentBlockStop():
                return self._on_block_stop(event.index)
            case MessageDelta():
                self._tally.update(event.usage)
                return self._finish(event.delta.stop_reason)
            case MessageStop():
                self._stopped = True
                return self._finish(None)
            case Ping():
                return []
            case ErrorEvent():
                raise from_error_event(event.error)
            case _:
                assert_never(event)

    def _on_block_start(self, event: ContentBlockStart) -> list[ChatCompletionChunk]:
        block = decode_block(event.content_block)
        match block:
            case None:
                self._blocks[event.index] = _Block("other")
            case TextBlock():
                self._blocks[event.index] = _Block("text", start=self._content_len)
                return self._content(block.text)
            case ThinkingBlock():
                self._blocks[event.index] = _Block("thinking", thinking=[block.thinking])
                return self._reasoning(block.thinking)
            case RedactedThinkingBlock():
                self._blocks[event.index] = _Block("other")
                self._thinking.append(block)
            case ToolUseBlock() if block.name == JSON_TOOL_NAME:
                self._blocks[event.index] = _Block("json")
            case ToolUseBlock():
                index = self._tool_count
                self._tool_count += 1
                self._blocks[event.index] = _Block("tool", tool_index=index)
                call = ToolCallDelta(
                    index=index,
                    id=encode_call_id(block.id, self._thinking),
                    type="function",
                    function=FunctionCallDelta(name=block.name, arguments=""),
                )
                self._thinking = []
                return [self._chunk(Delta(tool_calls=[call]))]
            case ServerToolUseBlock():
                self._blocks[event.index] = _Block("search", server_id=block.id)
                self._queries[block.id] = query_of(block.input)
            case WebSearchToolResultBlock():
                self._blocks[event.index] = _Block("other")
                search = to_web_search(block, self._queries.get(block.tool_use_id, ""))
                return [self._chunk(Delta(web_searches=[search]))]
            case _:
                assert_never(block)
        return []

    def _on_delta(self, event: ContentBlockDelta) -> list[ChatCompletionChunk]:
        state = self._blocks.get(event.index) or _Block("other")
        delta = decode_delta(event.delta)
        match delta:
            case CitationsDelta():
                state.citations.append(delta.citation)
                return []
            case None:
                return []
            case TextDelta():
                return self._content(delta.text)
            case ThinkingDelta():
                state.thinking.append(delta.thinking)
                return self._reasoning(delta.thinking)
            case SignatureDelta():
                state.signature.append(delta.signature)
                return []
            case InputJsonDelta() if state.kind == "search":
                state.inputs.append(delta.partial_json)
                return []
            case InputJsonDelta():
                return self._input(state, delta.partial_json)
            case _:
                assert_never(delta)

    def _on_block_stop(self, index: int) -> list[ChatCompletionChunk]:
        state = self._blocks.pop(index, None)
        if state is None:
            return []
        if state.kind == "thinking":
            self._thinking.append(ThinkingBlock("".join(state.thinking), "".join(state.signature)))
        if state.kind == "text" and state.citations:
            cited = url_citations(state.citations, state.start, self._content_len)
            return [self._chunk(Delta(annotations=cited))] if cited else []
        if state.kind == "search" and state.inputs:
            self._queries[state.server_id] = query_of("".join(state.inputs))
        if state.kind in ("tool", "json") and not state.sent_input:
            return self._input(state, "{}")  # no fragment came: the input was {}
        return []

    # ------------------------------------------------------------ chunks

    def _input(self, state: _Block, fragment: str) -> list[ChatCompletionChunk]:
        if not fragment:
            return []
        state.sent_input = True
        if state.kind == "json":
            return self._content(fragment)
        if state.kind != "tool":
            return []
        call = ToolCallDelta(index=state.tool_index, function=FunctionCallDelta(arguments=fragment))
        return [self._chunk(Delta(tool_calls=[call]))]

    def _start(self) -> list[ChatCompletionChunk]:
        if self._started:
            return []
        self._started = True
        return [self._chunk(Delta(role="assistant", content=""))]

    def _finish(self, stop_reason: str | None) -> list[ChatCompletionChunk]:
        if self._finished:
            return []
        chunks = self._start()
        self._finished = True
        reason = to_openai_finish_reason(stop_reason, self._tool_count > 0)
        return chunks + [self._chunk(Delta(), reason)]

    def _content(self, text: str) -> list[ChatCompletionChunk]:
        self._content_len += len(text)
        return [self._chunk(Delta(content=text))] if text else []

    def _reasoning(self, text: str) -> list[ChatCompletionChunk]:
        return [self._chunk(Delta(reasoning_content=text))] if text else []

    def _chunk(self, delta: Delta, finish_reason: str | None = None) -> ChatCompletionChunk:
        ctx = self._ctx
        choice = ChunkChoice(index=ctx.choice_index, delta=delta, finish_reason=finish_reason)
        return ChatCompletionChunk(id=ctx.completion_id, created=ctx.created, model=ctx.model, choices=[choice])
