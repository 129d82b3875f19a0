"""Responses to an OpenAI upstream that serves `/responses` (`responses = true`): as sent.

The caller's body goes to `<base_url>/responses` with two changes only: the upstream
model id replaces ours, and a `previous_response_id` of ours (stored by this gateway) is
inlined as the conversation's items (the upstream never saw it; an id this key has not
stored is a 404 before this point). Built-in tools, `include`, `store` and every other
field go untouched. The upstream's events are relayed as they come, in order, with
their own `type` and `sequence_number`; only the response object inside the lifecycle
events (`response.created` ... `response.completed`) gets our model name back. Usage is
billed from the final response's own counts; a stream cut before them is estimated. An
upstream `error` event ends the stream as its final event would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from gateway.contracts.errors import upstream_error
from gateway.contracts.openai import CompletionTokensDetails, PromptTokensDetails, Usage
from workers.dialects.responses.sink import ResponsesSink
from workers.providers.base import Target, UpstreamRequest
from workers.providers.token_estimate import estimate_from_chars
from workers.sse import SseDecoder

if TYPE_CHECKING:
    from workers.service import Outcome, Route

OnStored = Callable[[str, bytes], Awaitable[None]]  # (response id, response JSON) -> stored
FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})

_DOC = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ENCODER = msgspec.json.Encoder()


class _InDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _OutDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    input_tokens_details: _InDetails | None = None
    output_tokens_details: _OutDetails | None = None

    def to_usage(self) -> Usage:
        prompt, completion = self.input_tokens or 0, self.output_tokens or 0
        cached = self.input_tokens_details.cached_tokens if self.input_tokens_details else None
        reasoning = self.output_tokens_details.reasoning_tokens if self.output_tokens_details else None
        return Usage(
            prompt_tokens=prompt, completion_tokens=completion,
            total_tokens=self.total_tokens if self.total_tokens is not None else prompt + completion,
            prompt_tokens_details=PromptTokensDetails(cached_tokens=cached or 0),
            completion_tokens_details=CompletionTokensDetails(reasoning_tokens=reasoning or 0),
        )


class _ResponsePeek(msgspec.Struct):
    id: str = ""
    usage: _Usage | None = None


class _EventPeek(msgspec.Struct):
    type: str = ""
    delta: Any = None
    sequence_number: Any = None
    response: _ResponsePeek | None = None


_EVENT = msgspec.json.Decoder(_EventPeek)
_RESPONSE = msgspec.json.Decoder(_ResponsePeek)


def upstream_body(raw: bytes, upstream_model: str, items: list[msgspec.Raw] | None) -> bytes:
    """The caller's body for the upstream: model swapped; `items` (history inlined) replace
    `input` and drop `previous_response_id` when given."""
    doc = _DOC.decode(raw)
    doc["model"] = msgspec.Raw(_ENCODER.encode(upstream_model))
    if items is not None:
        doc["input"] = msgspec.Raw(_ENCODER.encode(items))
        doc.pop("previous_response_id", None)
    return _ENCODER.encode(doc)


def with_public_model(response: bytes, model: str, previous_id: str | None = None) -> bytes:
    """A response object with our model name in place of the upstream's, and the caller's
    `previous_response_id` when we inlined it (the upstream never saw it)."""
    doc = _DOC.decode(response)
    doc["model"] = msgspec.Raw(_ENCODER.encode(model))
    if previous_id is not None:
        doc["previous_response_id"] = msgspec.Raw(_ENCODER.encode(previous_id))
    return _ENCODER.encode(doc)


def _event_with_public_model(data: bytes, model: str, previous_id: str | None) -> bytes:
    doc = _DOC.decode(data)
    doc["response"] = msgspec.Raw(with_public_model(doc["response"], model, previous_id))
    return _ENCODER.encode(doc)


def request(target: Target, body: bytes, stream: bool) -> UpstreamRequest:
    """The upstream call."""
    headers = {"content-type": "application/json", "accept": "text/event-stream" if stream else "application/json"}
    if target.api_key:
        headers["authorization"] = f"Bearer {target.api_key}"
    return UpstreamRequest(url=f"{target.base_url.rstrip('/')}/responses", headers=headers, body=body, stream=stream)


async def pass_through(route: Route, target: Target, upstream: UpstreamRequest, stream: bool,
                       sink: ResponsesSink, outcome: Outcome, on_final: OnStored | None,
                       previous_id: str | None = None) -> None:
    """Send `upstream`, relay its answer to `sink`, bill its usage, store it (`on_final`).

    `previous_id`: the caller's `previous_response_id` that was inlined, shown back to it."""
    outcome.prompt_estimate = estimate_from_chars(len(upstream.body))
    outcome.upstream_working = True
    async with route.upstream.open(upstream) as response:
        if response.status >= 400:
            body = await response.read()
            outcome.upstream_working = False
            raise route.provider.error(response.status, response.headers, body)
        if not stream:
            body = with_public_model(await response.read(), target.public_model, previous_id)
            peek = _RESPONSE.decode(body)
            outcome.usage = peek.usage.to_usage() if peek.usage else Usage()
            if on_final is not None and peek.id:
                await on_final(peek.id, body)
            await sink.result(msgspec.Raw(body), outcome.usage)
            return
        decoder = SseDecoder()
        final = False
        async for raw in response.chunks:
            for event in decoder.feed(raw):
                final = await _relay(event.data, target, sink, outcome, on_final, previous_id) or final
        for event in decoder.close():
            final = await _relay(event.data, target, sink, outcome, on_final, previous_id) or final
    if not final:
        raise upstream_error("The upstream's Responses stream ended before its final event.")
    await sink.done(outcome.usage)


async def _relay(data: str, target: Target, sink: ResponsesSink, outcome: Outcome, on_final: OnStored | None,
                 previous_id: str | None) -> bool:
    """Relay one upstream event; True when it was the final one."""
    if not data or data == "[DONE]":
        return False
    payload = data.encode()
    peek = _EVENT.decode(payload)
    if isinstance(peek.delta, str):
        outcome.unreported_chars += len(peek.delta)
    if peek.response is not None:
        payload = _event_with_public_model(payload, target.public_model, previous_id)
    if isinstance(peek.sequence_number, int):
        sink.sequence = peek.sequence_number + 1
    if peek.type == "error":  # the upstream ended the stream with an error of its own
        outcome.status, outcome.error_code = "error", "upstream_error"
        await sink.event(peek.type, payload)
        return True
    final = peek.type in FINAL_EVENTS
    if final and peek.response is not None:
        if peek.response.usage is not None:
            outcome.usage = peek.response.usage.to_usage()
            outcome.unreported_chars = 0  # the upstream's own count replaces the estimate
        if peek.type == "response.failed":
            outcome.status, outcome.error_code = "error", "upstream_failed"
        if on_final is not None and peek.type != "response.failed" and peek.response.id:
            await on_final(peek.response.id, bytes(_DOC.decode(payload)["response"]))
    await sink.event(peek.type or "message", payload)
    return final
