"""Responses to an OpenAI upstream that serves `/responses` (`responses = true`): as sent.

The caller's body goes to `<base_url>/responses` with three changes only: the upstream
model id replaces ours, a `previous_response_id` of ours (stored by this gateway) is
inlined as the conversation's items (the upstream never saw it; an id this key has not
stored is a 404 before this point), and what the model refuses (its parameter rules,
gateway/contracts/model_rules.py) is left out. Built-in tools, `include`, `store` and every other
field go untouched. The upstream's events are relayed as they come, in order, with
their own `type` and `sequence_number`; only the response object inside the lifecycle
events (`response.created` ... `response.completed`) gets our model name back. Usage is
billed from the final response's own counts; a stream cut before them is estimated. An
upstream `error` event ends the stream as its final event would.

Items a converted route made (ids `<prefix>_gw_`, response.py `MINTED`), which no
upstream stored, lose their `id` on the way up (OpenAI looks such ids up: "Item with id
'rs_...' not found"), or go altogether: a `reasoning` item without `encrypted_content`,
and a `web_search_call` (Claude's or Gemini's search, an input item OpenAI takes only
with its id; the answer after it holds what it found), in inlined history and in the caller's own input alike; and a `call_id` over
OpenAI's 64 characters (the Claude and Gemini providers pack thinking and signatures into
theirs) becomes a digest, the same for a call and its output (call_ids.py). So a chain, or a Codex
session, may move from any provider to a pass-through route.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from gateway.contracts.errors import OpenAIError, upstream_error
from gateway.contracts.openai import CompletionTokensDetails, PromptTokensDetails, Usage
from gateway.runtime.estimate import responses_event_chars
from workers.dialects.call_ids import RESPONSES_MAX, fitted
from workers.dialects.responses.output import Store, framed
from workers.dialects.responses.response import MINTED, is_minted
from workers.frames import Item
from workers.providers import param_rules
from workers.providers.base import SseEvent, Target, UpstreamRequest

FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})

_DOC = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])
_ITEM = msgspec.json.Decoder(dict[str, Any])
_MARK = f"_{MINTED}_".encode()  # PERF: only bodies holding it (or a long call id) are decoded item by item
_LONG_CALL_ID = re.compile(rb'"call_id"\s*:\s*"[^"]{%d,}"' % (RESPONSES_MAX + 1))
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
    `input` and drop `previous_response_id` when given; converted routes' items made portable."""
    doc = _DOC.decode(raw)
    doc["model"] = msgspec.Raw(_ENCODER.encode(upstream_model))
    if items is not None:
        doc["input"] = msgspec.Raw(_ENCODER.encode(portable(items)))
        doc.pop("previous_response_id", None)
    elif _needs_portable(raw) and bytes(doc.get("input", b"")).lstrip().startswith(b"["):
        doc["input"] = msgspec.Raw(_ENCODER.encode(portable(_ITEMS.decode(doc["input"]))))
    return _ENCODER.encode(doc)


def _needs_portable(raw: bytes) -> bool:
    return _MARK in raw or _LONG_CALL_ID.search(raw) is not None


def portable(items: list[msgspec.Raw]) -> list[msgspec.Raw]:
    """`items` without the ids converted routes made up, and with call ids OpenAI takes
    (see the module doc)."""
    out: list[msgspec.Raw] = []
    for raw in items:
        if not _needs_portable(bytes(raw)):
            out.append(raw)
            continue
        item = _ITEM.decode(raw)
        if is_minted(item.get("id")):
            if item.get("type") == "web_search_call" or (
                    item.get("type") == "reasoning" and not item.get("encrypted_content")):
                continue
            item.pop("id")
        if isinstance(item.get("call_id"), str):
            item["call_id"] = fitted(item["call_id"], RESPONSES_MAX)
        out.append(msgspec.Raw(_ENCODER.encode(item)))
    return out


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


def without_refused(body: bytes, target: Target) -> tuple[bytes, tuple[str, ...]]:
    """The body without the parameters the model refuses (its rules, as chat bodies get
    them: workers/providers/param_rules.py), and their names; with `drop_params = false`
    the first is a 400 naming it."""
    rules = target.options.rules
    names = [*rules.refuses, *(() if rules.reasons else ("reasoning",))]
    if not any(f'"{name}"'.encode() in body for name in names):  # PERF: no decode when none is sent
        return body, ()
    doc = _DOC.decode(body)
    values = {name: msgspec.json.decode(doc[name]) for name in names if name in doc}
    refused = param_rules.refused_params(values, rules, reasoning="reasoning")
    if not refused:
        return body, ()
    shown = param_rules.mattered(values, refused)
    if shown and not rules.drop_params:
        raise param_rules.refusal(shown[0], values[shown[0]], target)
    for name in refused:
        doc.pop(name)
    return _ENCODER.encode(doc), tuple(shown)


def request(target: Target, body: bytes, stream: bool, dropped: tuple[str, ...] = ()) -> UpstreamRequest:
    """The upstream call."""
    headers = {"content-type": "application/json", "accept": "text/event-stream" if stream else "application/json"}
    if target.api_key:
        headers["authorization"] = f"Bearer {target.api_key}"
    return UpstreamRequest(url=f"{target.base_url.rstrip('/')}/responses", headers=headers, body=body,
                           stream=stream, dropped=dropped)


class ResponsesRelay:
    """Reads the upstream's answer (a `PassThrough`, workers/dialects/__init__.py) and is the
    Output it leaves through (workers/frames.py): events framed as SSE, as the Responses
    API writes them, the final response stored before it leaves."""

    def __init__(self, public_model: str, previous_id: str | None, store: Store | None) -> None:
        self._model, self._previous_id, self._store = public_model, previous_id, store
        self._usage = Usage()
        self._chars = 0  # output relayed since the last reported count
        self._ended = False
        self._failure: str | None = None
        self._final: tuple[str, bytes] | None = None  # (id, response JSON) to store
        self._sequence = 0  # the next sequence number after the upstream's events
        self._relayed = False

    # ------------------------------------------------------------ reading (PassThrough)

    def result(self, body: bytes) -> tuple[msgspec.Raw, Usage]:
        """The whole response object (our model name) and its usage."""
        body = with_public_model(body, self._model, self._previous_id)
        peek = _RESPONSE.decode(body)
        self._usage = peek.usage.to_usage() if peek.usage else Usage()
        if peek.id:
            self._final = (peek.id, body)
        return msgspec.Raw(body), self._usage

    def feed(self, event: SseEvent) -> list[msgspec.Raw]:
        """One upstream event, framed."""
        data = event.data
        if not data or data == "[DONE]":
            return []
        payload = data.encode()
        peek = _EVENT.decode(payload)
        self._relayed = True
        self._chars += responses_event_chars(payload)
        if peek.response is not None:
            payload = _event_with_public_model(payload, self._model, self._previous_id)
        if isinstance(peek.sequence_number, int):
            self._sequence = peek.sequence_number + 1
        if peek.type == "error":  # the upstream ended the stream with an error of its own
            self._ended, self._failure = True, "upstream_error"
            return [framed(peek.type, payload)]
        if peek.type in FINAL_EVENTS:
            self._ended = True
            if peek.response is not None:
                self._final_event(peek.type, peek.response, payload)
        return [framed(peek.type or "message", payload)]

    def _final_event(self, event_type: str, response: _ResponsePeek, payload: bytes) -> None:
        if response.usage is not None:
            self._usage = response.usage.to_usage()
            self._chars = 0  # the upstream's own count replaces the estimate
        if event_type == "response.failed":
            self._failure = "upstream_failed"
        elif response.id:
            self._final = (response.id, bytes(_DOC.decode(payload)["response"]))

    def relayed(self) -> bool:
        """True once an upstream event was relayed."""
        return self._relayed

    def usage(self) -> Usage:
        """The final response's counts (none before it)."""
        return self._usage

    def unreported_chars(self) -> int:
        """Output relayed that no reported count covers (a stream cut before its end)."""
        return self._chars

    def failure(self) -> str | None:
        """The upstream's own failure (`error` or `response.failed`), relayed as is."""
        return self._failure

    def close(self) -> None:
        """The stream must have reached its final event."""
        if not self._ended:
            raise upstream_error("The upstream's Responses stream ended before its final event.")

    def error_event(self, error: OpenAIError) -> msgspec.Raw:
        """Our `error` event after the upstream's events, numbered after them."""
        return framed("error", _ENCODER.encode({
            "type": "error", "sequence_number": self._sequence, "code": error.code or error.type,
            "message": error.message, "param": error.param,
        }))

    async def store_final(self) -> None:
        """Store the final response (once) before it leaves."""
        final, self._final = self._final, None
        if final is not None and self._store is not None:
            await self._store(*final)


class RelayOutput:
    """The Output a relayed answer leaves through (workers/frames.py): framed already."""

    def __init__(self, relay: ResponsesRelay) -> None:
        self._relay = relay

    def result(self, body: Item, usage: Usage) -> Item:
        """Already a response object."""
        return body

    def chunk(self, item: Item) -> Sequence[Item]:
        """Framed already."""
        return [item]

    def done(self, usage: Usage) -> Sequence[Item]:
        """The upstream's final event went out already."""
        return []

    def failed(self, error: OpenAIError) -> Sequence[Item] | None:
        """After the upstream's events: an `error` event of ours; before them, None (an HTTP error)."""
        return [self._relay.error_event(error)] if self._relay.relayed() else None

    async def settle(self) -> None:
        """The final response stored before it leaves."""
        await self._relay.store_final()
