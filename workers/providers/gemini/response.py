"""Gemini GenerateContentResponse -> OpenAI ChatCompletion (conversion-reference.md 3.5).

- `candidates[i]` -> `choices[index]` (`index` absent -> the candidate's position);
- text parts -> `message.content`; parts marked `thought: true` (thought summaries, only
  with includeThoughts) -> `reasoning_content`, never `content`;
- `functionCall` parts -> `tool_calls` with ids from `ctx.new_id("call")` and the
  arguments as JSON; a part's `thoughtSignature` rides along in
  `extra_content.google.thought_signature` and in the call's id (signatures.py) so the
  caller can echo it back;
- `logprobsResult` -> OpenAI `logprobs.content`;
- `groundingMetadata` (Google Search) -> `message.web_searches` (grounding.py);
- no candidates and `promptFeedback.blockReason` -> 400 `content_filter`, not an empty
  success; a candidate that stopped on a failure reason (finish.py: MALFORMED_FUNCTION_CALL,
  UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS, MALFORMED_RESPONSE, a missing thought
  signature) and produced nothing -> 502 with Google's finishMessage, so SDKs retry
  instead of seeing an empty answer; every such error carries Google's usageMetadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
from msgspec import UNSET, Struct, UnsetType

from gateway.contracts.openai import ChatCompletion, Choice, FunctionCall, ResponseMessage
from workers.providers.base import ChatResult, ReplyContext, UpstreamError
from workers.providers.gemini import errors
from workers.providers.gemini.finish import is_failure_without_output, to_openai_finish_reason
from workers.providers.gemini.grounding import to_web_searches
from workers.providers.gemini.schema import (
    RESPONSE_DECODER,
    Candidate,
    ExtraContent,
    GenerateContentResponse,
    GoogleExtra,
    LogprobsCandidate,
    LogprobsResult,
    Part,
    SignedToolCall,
)
from workers.providers.gemini.signatures import signed_call_id
from workers.providers.gemini.usage import to_openai_usage

_ARGS_ENCODER = msgspec.json.Encoder()


class TopLogprob(Struct):
    """One alternative token of a step."""

    token: str
    logprob: float
    bytes: list[int]


class TokenLogprob(Struct):
    """One generated token with its alternatives."""

    token: str
    logprob: float
    bytes: list[int]
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(Struct):
    """OpenAI's `choices[].logprobs`."""

    content: list[TokenLogprob]
    refusal: None = None


@dataclass(slots=True)
class CandidateParts:
    """A candidate's parts sorted by what they become on the OpenAI side."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: list[SignedToolCall] = field(default_factory=list)


def to_chat_result(body: bytes, ctx: ReplyContext) -> ChatResult:
    """The ChatCompletion and billed usage of a whole generateContent response."""
    response = decode_response(body)
    usage = to_openai_usage(response.usage_metadata)
    try:
        check_prompt_feedback(response)
        choices = [
            to_choice(candidate, position, ctx)
            for position, candidate in enumerate(response.candidates)
        ]
    except UpstreamError as ex:
        # NOTE: Google bills a failed answer too: its reported usage, never an estimate.
        raise ex.with_usage(usage) if response.usage_metadata is not None else ex
    choices.sort(key=lambda choice: choice.index)
    completion = ChatCompletion(
        id=ctx.completion_id, created=ctx.created, model=ctx.model, choices=choices, usage=usage
    )
    return ChatResult(body=completion, usage=usage)


def decode_response(body: bytes) -> GenerateContentResponse:
    """The decoded response; 502 when it is not a GenerateContentResponse."""
    try:
        return RESPONSE_DECODER.decode(body)
    except msgspec.DecodeError as ex:
        raise errors.malformed(f"unreadable generateContent response: {ex}") from ex


def check_prompt_feedback(response: GenerateContentResponse) -> None:
    """Raise for a response without candidates: a blocked prompt (400) or nothing (502)."""
    if response.error is not None:
        raise errors.from_status(response.error, {})
    if response.candidates:
        return
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        raise errors.prompt_blocked(feedback)
    raise errors.malformed("the response holds no candidates")


def to_choice(candidate: Candidate, position: int, ctx: ReplyContext) -> Choice:
    """One OpenAI choice for one Gemini candidate."""
    parts = split_parts(candidate.content.parts if candidate.content else [], ctx)
    produced = bool(parts.text or parts.reasoning or parts.calls)
    if is_failure_without_output(candidate.finish_reason, produced):
        raise failed_candidate(candidate)
    text = "".join(parts.text)
    searches = to_web_searches(candidate.grounding_metadata, ctx)
    message = ResponseMessage(
        content=text if text or not parts.calls else None,
        tool_calls=list(parts.calls) if parts.calls else UNSET,
        reasoning_content="".join(parts.reasoning) if parts.reasoning else UNSET,
        web_searches=searches or UNSET,
    )
    return Choice(
        index=candidate.index if candidate.index is not None else position,
        message=message,
        finish_reason=to_openai_finish_reason(candidate.finish_reason, bool(parts.calls)),
        logprobs=to_openai_logprobs(candidate.logprobs_result),
    )


def split_parts(parts: list[Part], ctx: ReplyContext) -> CandidateParts:
    """Text, thought text and tool calls of a candidate's parts, in order."""
    out = CandidateParts()
    for part in parts:
        if not isinstance(part.function_call, UnsetType):
            out.calls.append(to_tool_call(part, ctx))
        elif isinstance(part.text, str) and part.text:
            (out.reasoning if part.thought is True else out.text).append(part.text)
    return out


def to_tool_call(part: Part, ctx: ReplyContext) -> SignedToolCall:
    """An OpenAI tool call for a `functionCall` part (with its thought signature, if any)."""
    call = part.function_call
    assert not isinstance(call, UnsetType)
    signature = part.thought_signature
    return SignedToolCall(
        id=signed_call_id(ctx.new_id("call"), signature if isinstance(signature, str) else None),
        function=FunctionCall(name=call.name, arguments=tool_arguments(call.args)),
        extra_content=(
            ExtraContent(google=GoogleExtra(thought_signature=signature))
            if isinstance(signature, str) and signature
            else UNSET
        ),
    )


def tool_arguments(args: dict[str, object] | None) -> str:
    """`functionCall.args` as OpenAI's JSON string (absent args -> `{}`)."""
    return _ARGS_ENCODER.encode(args or {}).decode()


def failed_candidate(candidate: Candidate) -> UpstreamError:
    """502 for a candidate that stopped on a failure reason without any output."""
    detail = f": {candidate.finish_message}" if candidate.finish_message else ""
    return errors.malformed(
        f"Gemini produced no output (finishReason {candidate.finish_reason}){detail}"
    )


def to_openai_logprobs(result: LogprobsResult | None) -> ChoiceLogprobs | None:
    """OpenAI logprobs for Gemini's `logprobsResult` (None when absent)."""
    if result is None or not result.chosen_candidates:
        return None
    content = []
    for step, chosen in enumerate(result.chosen_candidates):
        tops = result.top_candidates[step].candidates if step < len(result.top_candidates) else []
        content.append(
            TokenLogprob(
                token=chosen.token,
                logprob=chosen.log_probability,
                bytes=_bytes(chosen),
                top_logprobs=[
                    TopLogprob(token=top.token, logprob=top.log_probability, bytes=_bytes(top))
                    for top in tops
                ],
            )
        )
    return ChoiceLogprobs(content=content)


def _bytes(candidate: LogprobsCandidate) -> list[int]:
    return list(candidate.token.encode("utf-8"))
