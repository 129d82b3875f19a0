"""Gemini `streamGenerateContent?alt=sse` -> OpenAI `chat.completion.chunk`s.

Each SSE event is a whole GenerateContentResponse holding only the new parts
(conversion-reference.md 3.6): text arrives as consecutive text parts, a functionCall
arrives whole in one event, `finishReason` comes on a candidate's last event and
`usageMetadata` is cumulative on every event. Per choice this emits:

- `delta.role = "assistant"` on the choice's first chunk;
- one `content` delta per run of text parts in an event (`reasoning_content` for thought
  parts);
- one tool-call delta per functionCall with `index` (0..n-1 per choice), a generated
  `id`, `type`, `name` and the full `arguments`;
- one `web_searches` delta the first time the candidate's `groundingMetadata` reports a
  search (grounding.py);
- one finish chunk (`delta: {}`) when the candidate reports its finishReason.

No usage chunk: the service builds that from `usage()`, the last `usageMetadata` (never a
sum). An `{"error": ...}` event, a blocked prompt or a stream that ends before every
started choice finished raises UpstreamError.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from msgspec import UnsetType

from gateway.contracts.openai import (
    ChatCompletionChunk,
    ChunkChoice,
    Delta,
    FunctionCallDelta,
    Usage,
)
from workers.providers.base import ReplyContext, SseEvent, StreamOutcome
from workers.providers.gemini import errors
from workers.providers.gemini.finish import is_failure_without_output, to_openai_finish_reason
from workers.providers.gemini.grounding import to_web_searches
from workers.providers.gemini.response import (
    failed_candidate,
    to_openai_logprobs,
    to_tool_call,
)
from workers.providers.gemini.schema import (
    RESPONSE_DECODER,
    Candidate,
    Part,
    SignedToolCallDelta,
    UsageMetadata,
)
from workers.providers.gemini.usage import to_openai_usage


@dataclass(slots=True)
class _ChoiceState:
    """What one choice has emitted so far."""

    started: bool = False
    tool_calls: int = 0
    searched: bool = False
    finished: bool = False


class GeminiStream:
    """Converts one Gemini SSE stream, one event at a time."""

    def __init__(self, ctx: ReplyContext) -> None:
        self._ctx = ctx
        self._choices: dict[int, _ChoiceState] = {}
        self._meta: UsageMetadata | None = None

    def feed(self, event: SseEvent) -> list[ChatCompletionChunk | msgspec.Raw]:
        """The chunks for one upstream event; UpstreamError on an error or blocked prompt."""
        data = event.data.strip()
        if not data:
            return []
        try:
            payload = RESPONSE_DECODER.decode(data)
        except msgspec.DecodeError as ex:
            raise errors.malformed(f"unreadable stream event: {ex}") from ex
        if payload.error is not None:
            raise errors.from_status(payload.error, {})
        if payload.usage_metadata is not None:
            self._meta = payload.usage_metadata
        feedback = payload.prompt_feedback
        if not payload.candidates and feedback is not None and feedback.block_reason:
            raise errors.prompt_blocked(feedback)
        chunks: list[ChatCompletionChunk | msgspec.Raw] = []
        for position, candidate in enumerate(payload.candidates):
            index = candidate.index if candidate.index is not None else position
            chunks.extend(self._candidate_chunks(index, candidate))
        return chunks

    def usage(self) -> Usage:
        """The usage of the last `usageMetadata` seen (billed even if the stream breaks)."""
        return to_openai_usage(self._meta)

    def close(self) -> StreamOutcome:
        """The end of the body; 502 if no choice, or not every started choice, finished."""
        if not self._choices or not all(s.finished for s in self._choices.values()):
            raise errors.malformed("the stream ended before Gemini reported a finishReason")
        return StreamOutcome(usage=self.usage())

    def _candidate_chunks(self, index: int, candidate: Candidate) -> list[ChatCompletionChunk]:
        state = self._choices.setdefault(index, _ChoiceState())
        if state.finished:
            return []  # NOTE: nothing may follow a choice's finish chunk
        parts = candidate.content.parts if candidate.content else []
        deltas = self._deltas(parts, state)
        searches = [] if state.searched else to_web_searches(candidate.grounding_metadata, self._ctx)
        if searches:
            state.searched = True
            deltas.append(Delta(web_searches=searches))
        logprobs = to_openai_logprobs(candidate.logprobs_result)
        chunks: list[ChatCompletionChunk] = []
        for delta in deltas:
            if not state.started:
                delta.role = "assistant"
                state.started = True
            attach = logprobs if isinstance(delta.content, str) else None
            if attach is not None:
                logprobs = None
            chunks.append(self._chunk(index, delta, logprobs=attach))
        reason = candidate.finish_reason
        if reason:
            if is_failure_without_output(reason, state.started):
                raise failed_candidate(candidate).with_usage(self.usage())
            if not state.started:
                chunks.append(self._chunk(index, Delta(role="assistant", content="")))
                state.started = True
            finish = to_openai_finish_reason(reason, state.tool_calls > 0)
            chunks.append(self._chunk(index, Delta(), finish_reason=finish))
            state.finished = True
        return chunks

    def _deltas(self, parts: list[Part], state: _ChoiceState) -> list[Delta]:
        deltas: list[Delta] = []
        for part in parts:
            if not isinstance(part.function_call, UnsetType):
                call = to_tool_call(part, self._ctx)
                tool_delta = SignedToolCallDelta(
                    index=state.tool_calls,
                    id=call.id,
                    type="function",
                    function=FunctionCallDelta(
                        name=call.function.name, arguments=call.function.arguments
                    ),
                    extra_content=call.extra_content,
                )
                state.tool_calls += 1
                deltas.append(Delta(tool_calls=[tool_delta]))
            elif isinstance(part.text, str) and part.text:
                last = deltas[-1] if deltas else None
                if part.thought is True:
                    if last is not None and isinstance(last.reasoning_content, str):
                        last.reasoning_content += part.text
                    else:
                        deltas.append(Delta(reasoning_content=part.text))
                elif last is not None and isinstance(last.content, str):
                    last.content += part.text
                else:
                    deltas.append(Delta(content=part.text))
        return deltas

    def _chunk(
        self,
        index: int,
        delta: Delta,
        finish_reason: str | None = None,
        logprobs: object = None,
    ) -> ChatCompletionChunk:
        ctx = self._ctx
        return ChatCompletionChunk(
            id=ctx.completion_id,
            created=ctx.created,
            model=ctx.model,
            choices=[
                ChunkChoice(
                    index=index, delta=delta, finish_reason=finish_reason, logprobs=logprobs
                )
            ],
        )
