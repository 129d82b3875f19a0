"""Chat chunks -> the Responses event sequence, one chunk at a time.

The sequence the SDKs parse: `response.created`, `response.in_progress`; per output item
`output_item.added`, its content (`content_part.added`, `output_text.delta`*,
`output_text.done`, `content_part.done` for a message; `function_call_arguments.delta`*
and `.done` for a call; `reasoning_summary_part.added`, `reasoning_summary_text.delta`*,
`.done`, `reasoning_summary_part.done` for reasoning), `output_item.done`; then
`response.completed` (or `response.incomplete`, or `error` + `response.failed`). Every
event has its `type` and a `sequence_number` counting from 0.

Items are opened in the order their first delta comes and closed when another kind of
output begins (reasoning before text, text before calls, as providers stream them);
tool calls stay open until the end, since their argument fragments may interleave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
from msgspec import UnsetType

from gateway.contracts.errors import OpenAIError
from gateway.contracts.openai import ChatCompletionChunk, Usage, WebSearch
from gateway.contracts.openai_responses import (
    AnnotationEvent,
    ArgumentsDeltaEvent,
    ArgumentsDoneEvent,
    ErrorEvent,
    ItemEvent,
    OutputItem,
    OutputMessage,
    OutputReasoning,
    OutputText,
    PartEvent,
    Response,
    ResponseError,
    ResponseEvent,
    StreamEvent,
    SummaryDeltaEvent,
    SummaryDoneEvent,
    SummaryPartEvent,
    SummaryText,
    TextDeltaEvent,
    TextDoneEvent,
    WebSearchEvent,
)
from workers.dialects.responses.response import (
    NewId,
    finish,
    function_call_item,
    token_logprobs,
    url_citations,
    web_search_item,
)


@dataclass(slots=True)
class _Text:
    """An open reasoning or message item: its id, place and text so far."""

    id: str
    index: int
    text: list[str] = field(default_factory=list)
    logprobs: list[Any] = field(default_factory=list)  # a message's tokens, where the upstream gave them
    annotations: list[Any] = field(default_factory=list)  # a message's url citations
    base: int = 0  # where a message's text starts in the chat content (a search splits it)


@dataclass(slots=True)
class _Call:
    """An open function call."""

    id: str
    index: int
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)


class EventStream:
    """The events of one response, from the chat chunks of its one choice."""

    def __init__(self, shell: Response, new_id: NewId, namespaces: dict[str, str]) -> None:
        self._shell = shell
        self._new_id = new_id
        self._namespaces = namespaces
        self._seq = 0
        self._items: list[OutputItem | None] = []  # by output_index; None while open
        self._reasoning: _Text | None = None
        self._message: _Text | None = None
        self._calls: dict[int, _Call] = {}
        self._finish_reason: str | None = None
        self._chars = 0  # chat content so far: annotations index the whole of it
        self.started = False

    def _next(self) -> int:
        seq = self._seq
        self._seq += 1
        return seq

    def start(self) -> list[StreamEvent]:
        """response.created and response.in_progress."""
        self.started = True
        return [ResponseEvent(type=t, sequence_number=self._next(), response=self._shell)
                for t in ("response.created", "response.in_progress")]

    def feed(self, chunk: ChatCompletionChunk) -> list[StreamEvent]:
        """The events one chunk makes (its first choice; Responses has no `n`)."""
        events = [] if self.started else self.start()
        for choice in chunk.choices[:1]:
            delta = choice.delta
            if isinstance(delta.reasoning_content, str) and delta.reasoning_content:
                events += self._reasoning_delta(delta.reasoning_content)
            for search in delta.web_searches if isinstance(delta.web_searches, list) else []:
                events += self._web_search(search)
            if isinstance(delta.content, str) and delta.content:
                events += self._text_delta(delta.content, token_logprobs(choice.logprobs))
            if isinstance(delta.refusal, str) and delta.refusal:
                events += self._text_delta(delta.refusal)
            events += self._annotations(url_citations(delta.annotations))
            for call in delta.tool_calls if isinstance(delta.tool_calls, list) else []:
                function = call.function
                name = function.name if not isinstance(function, UnsetType) and isinstance(function.name, str) else ""
                args = function.arguments if not isinstance(function, UnsetType) else ""
                events += self._call_delta(call.index, call.id if isinstance(call.id, str) else "", name,
                                           args if isinstance(args, str) else "")
            if choice.finish_reason:
                self._finish_reason = choice.finish_reason
        return events

    # ------------------------------------------------------------------ items

    def _open(self, item: OutputItem) -> tuple[int, StreamEvent]:
        index = len(self._items)
        self._items.append(None)
        return index, ItemEvent(type="response.output_item.added", sequence_number=self._next(),
                                output_index=index, item=item)

    def _done(self, index: int, item: OutputItem) -> StreamEvent:
        self._items[index] = item
        return ItemEvent(type="response.output_item.done", sequence_number=self._next(), output_index=index, item=item)

    def _reasoning_delta(self, text: str) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if self._reasoning is None:
            events += self._close_message()
            item_id = self._new_id("rs")
            index, added = self._open(OutputReasoning(id=item_id))
            self._reasoning = _Text(item_id, index)
            events += [added, SummaryPartEvent(
                type="response.reasoning_summary_part.added", sequence_number=self._next(), item_id=item_id,
                output_index=index, summary_index=0, part=SummaryText(""),
            )]
        open_ = self._reasoning
        open_.text.append(text)
        events.append(SummaryDeltaEvent(type="response.reasoning_summary_text.delta", sequence_number=self._next(),
                                        item_id=open_.id, output_index=open_.index, summary_index=0, delta=text))
        return events

    def _close_reasoning(self) -> list[StreamEvent]:
        open_, self._reasoning = self._reasoning, None
        if open_ is None:
            return []
        text = "".join(open_.text)
        part = SummaryText(text)
        return [
            SummaryDoneEvent(type="response.reasoning_summary_text.done", sequence_number=self._next(),
                             item_id=open_.id, output_index=open_.index, summary_index=0, text=text),
            SummaryPartEvent(type="response.reasoning_summary_part.done", sequence_number=self._next(),
                             item_id=open_.id, output_index=open_.index, summary_index=0, part=part),
            self._done(open_.index, OutputReasoning(id=open_.id, summary=[part])),
        ]

    def _text_delta(self, text: str, logprobs: list[Any] | None = None) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if self._message is None:
            events += self._close_reasoning()
            item_id = self._new_id("msg")
            index, added = self._open(OutputMessage(id=item_id, status="in_progress"))
            self._message = _Text(item_id, index, base=self._chars)
            events += [added, PartEvent(type="response.content_part.added", sequence_number=self._next(),
                                        item_id=item_id, output_index=index, content_index=0,
                                        part=OutputText(text=""))]
        open_ = self._message
        open_.text.append(text)
        self._chars += len(text)
        open_.logprobs += logprobs or []
        events.append(TextDeltaEvent(type="response.output_text.delta", sequence_number=self._next(),
                                     item_id=open_.id, output_index=open_.index, content_index=0, delta=text,
                                     logprobs=logprobs or []))
        return events

    def _annotations(self, annotations: list[Any]) -> list[StreamEvent]:
        """Citations of the open message's text (`output_text.annotation.added` each)."""
        open_ = self._message
        if open_ is None:
            return []
        events: list[StreamEvent] = []
        for cited in annotations:
            annotation = {**cited, "start_index": max(0, cited["start_index"] - open_.base),
                          "end_index": max(0, cited["end_index"] - open_.base)}
            events.append(AnnotationEvent(
                sequence_number=self._next(), item_id=open_.id, output_index=open_.index, content_index=0,
                annotation_index=len(open_.annotations), annotation=annotation))
            open_.annotations.append(annotation)
        return events

    def _close_message(self) -> list[StreamEvent]:
        open_, self._message = self._message, None
        if open_ is None:
            return []
        text = "".join(open_.text)
        part = OutputText(text=text, logprobs=open_.logprobs, annotations=open_.annotations)
        return [
            TextDoneEvent(type="response.output_text.done", sequence_number=self._next(), item_id=open_.id,
                          output_index=open_.index, content_index=0, text=text, logprobs=open_.logprobs),
            PartEvent(type="response.content_part.done", sequence_number=self._next(), item_id=open_.id,
                      output_index=open_.index, content_index=0, part=part),
            self._done(open_.index, OutputMessage(id=open_.id, content=[part])),
        ]

    def _web_search(self, search: WebSearch) -> list[StreamEvent]:
        """A finished search: its whole `web_search_call` item, in the order it came
        (the text before it is its own message)."""
        events = self._close_reasoning() + self._close_message()
        item = web_search_item(self._new_id("ws"), search)
        index, added = self._open(msgspec.structs.replace(item, status="in_progress"))
        events.append(added)
        for step in ("in_progress", "searching", "completed"):
            events.append(WebSearchEvent(type=f"response.web_search_call.{step}", sequence_number=self._next(),
                                         output_index=index, item_id=item.id))
        return [*events, self._done(index, item)]

    def _call_delta(self, tool_index: int, call_id: str, name: str, arguments: str) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        call = self._calls.get(tool_index)
        if call is None:
            events += self._close_reasoning() + self._close_message()
            item_id = self._new_id("fc")
            index, added = self._open(function_call_item(item_id, call_id or self._new_id("call"), name, "",
                                                         self._namespaces, status="in_progress"))
            call = self._calls[tool_index] = _Call(item_id, index, call_id, name)
            events.append(added)
        if arguments:
            call.arguments.append(arguments)
            events.append(ArgumentsDeltaEvent(type="response.function_call_arguments.delta",
                                              sequence_number=self._next(), item_id=call.id,
                                              output_index=call.index, delta=arguments))
        return events

    def _close_calls(self) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for call in sorted(self._calls.values(), key=lambda c: c.index):
            arguments = "".join(call.arguments)
            events.append(ArgumentsDoneEvent(type="response.function_call_arguments.done",
                                             sequence_number=self._next(), item_id=call.id,
                                             output_index=call.index, arguments=arguments, name=call.name))
            events.append(self._done(call.index, function_call_item(call.id, call.call_id, call.name, arguments,
                                                                    self._namespaces)))
        self._calls = {}
        return events

    # ------------------------------------------------------------------ end

    def close(self, usage: Usage | None) -> tuple[list[StreamEvent], Response]:
        """Close every open item; the final event and the finished response."""
        events = [] if self.started else self.start()
        events += self._close_reasoning() + self._close_message() + self._close_calls()
        response = finish(self._shell, self._finish_reason, usage)
        response = msgspec.structs.replace(response, output=[i for i in self._items if i is not None])
        kind = "response.completed" if response.status == "completed" else "response.incomplete"
        events.append(ResponseEvent(type=kind, sequence_number=self._next(), response=response))
        return events, response

    def fail(self, error: OpenAIError) -> list[StreamEvent]:
        """`error` then `response.failed`, with what was output so far."""
        events: list[StreamEvent] = [] if self.started else self.start()
        code = error.code or error.type
        events.append(ErrorEvent(sequence_number=self._next(), code=code, message=error.message, param=error.param))
        failed = msgspec.structs.replace(self._shell, status="failed", error=ResponseError(code, error.message),
                                         output=[i for i in self._items if i is not None])
        events.append(ResponseEvent(type="response.failed", sequence_number=self._next(), response=failed))
        return events
