"""Messages to an anthropic-kind upstream: forwarded as sent (pure).

The caller's body goes upstream byte for byte except `model` (the route's upstream id)
and a `top_p` beside `temperature` on a model that refuses the pair (its parameter rules),
and thinking blocks with an empty signature: those are another model's thinking, written
by a converted route (a session switched to Claude with `/model`), and Anthropic refuses
them; they are dropped (or become text, where a turn would be left empty).
`cache_control`, `thinking`, tools and fields we do not model all reach Anthropic, and the
caller's `anthropic-beta` header goes with it. The answer comes back as Anthropic wrote
it, `model` set to the public id the caller routed to (as chat answers do); a stream is
relayed event by event while its usage events are tallied for billing. Anthropic bills
every token generated before a cut (client gone, upstream dropped, `error` event), but
its output count comes only with `message_delta`: until then the text, thinking and tool
input streamed are counted (gateway/runtime/estimate.py) and billed as an estimate.
"""

from __future__ import annotations

import re

import msgspec

from gateway.contracts.bus import Job
from gateway.contracts.errors import upstream_error
from gateway.contracts.openai import Usage
from gateway.runtime.estimate import messages_event_chars
from workers.providers.anthropic.errors import from_error_event
from workers.providers.anthropic.request import ANTHROPIC_VERSION
from workers.providers.anthropic.schema import AnthropicUsage, DeltaUsage, ErrorDetail
from workers.providers.anthropic.usage import UsageTally, to_openai_usage
from workers.providers.base import SseEvent, Target, UpstreamError, UpstreamRequest
from workers.providers.param_rules import top_p_left_out

_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ENCODER = msgspec.json.Encoder()


def with_model(raw: bytes, model: str) -> bytes:
    """`raw` (a JSON object) with its `model` member replaced; every other member's bytes kept."""
    members = _MEMBERS.decode(raw)
    members["model"] = msgspec.Raw(_ENCODER.encode(model))
    return _ENCODER.encode(members)


def upstream_body(raw: bytes, target: Target) -> tuple[bytes, tuple[str, ...]]:
    """The caller's body with the upstream model id, and `top_p` left out beside
    `temperature` where the model refuses the pair (its parameter rules); also the names
    left out. Every other member's bytes are kept."""
    members = _MEMBERS.decode(raw)
    members["model"] = msgspec.Raw(_ENCODER.encode(target.upstream_model))
    dropped: tuple[str, ...] = ()
    if "top_p" in members and "temperature" in members:
        temperature, top_p = (msgspec.json.decode(members[name]) for name in ("temperature", "top_p"))
        if top_p_left_out(temperature, top_p, target):
            del members["top_p"]
            dropped = ("top_p",)
    return _ENCODER.encode(members), dropped


class _Block(msgspec.Struct):
    type: str = ""
    thinking: str = ""
    signature: str | None = None


class _Turn(msgspec.Struct):
    content: str | list[msgspec.Raw] = ""


_UNSIGNED = re.compile(rb'"signature"\s*:\s*""')  # PERF: only such bodies are decoded block by block
_TURNS = msgspec.json.Decoder(list[msgspec.Raw])
_TURN = msgspec.json.Decoder(_Turn)
_TURN_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_BLOCK = msgspec.json.Decoder(_Block)


def _signed_only(raw: msgspec.Raw) -> msgspec.Raw:
    """One turn without its unsigned thinking blocks; their text if nothing else is left."""
    turn = _TURN.decode(raw)
    if isinstance(turn.content, str):
        return raw
    blocks = [(_BLOCK.decode(b), b) for b in turn.content]
    unsigned = [block for block, _ in blocks if block.type == "thinking" and not block.signature]
    if not unsigned:
        return raw
    kept = [b for block, b in blocks if not (block.type == "thinking" and not block.signature)]
    if not kept:
        kept = [msgspec.Raw(_ENCODER.encode({"type": "text", "text": block.thinking}))
                for block in unsigned if block.thinking.strip()] or [b for _, b in blocks]
    members = _TURN_MEMBERS.decode(raw)
    members["content"] = msgspec.Raw(_ENCODER.encode(kept))
    return msgspec.Raw(_ENCODER.encode(members))


def without_unsigned_thinking(body: bytes) -> bytes:
    """`body` without the thinking blocks other models wrote (empty signature); as is if none."""
    if not _UNSIGNED.search(body):
        return body
    try:
        members = _MEMBERS.decode(body)
        turns = [_signed_only(t) for t in _TURNS.decode(members["messages"])]
    except (msgspec.DecodeError, KeyError):
        return body  # not shaped as the gateway checked it: Anthropic answers it as it is
    members["messages"] = msgspec.Raw(_ENCODER.encode(turns))
    return _ENCODER.encode(members)


def upstream_request(job: Job, target: Target, path: str, stream: bool) -> UpstreamRequest:
    """`<base_url><path>` with the caller's body (model swapped) and Anthropic's headers."""
    headers = {
        "anthropic-version": ANTHROPIC_VERSION,
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
    }
    if job.anthropic_beta:
        headers["anthropic-beta"] = job.anthropic_beta
    if target.api_key:
        headers["x-api-key"] = target.api_key
    url = f"{target.base_url.rstrip('/')}{path}"
    body, dropped = upstream_body(without_unsigned_thinking(job.body), target)
    return UpstreamRequest(url=url, headers=headers, body=body, stream=stream, dropped=dropped)


class _Shell(msgspec.Struct):
    usage: AnthropicUsage | None = None


class _Event(msgspec.Struct):
    """The parts of a stream event billing and error handling read."""

    type: str = ""
    message: _Shell | None = None
    usage: DeltaUsage | None = None
    error: ErrorDetail | None = None


_EVENT = msgspec.json.Decoder(_Event)
_WHOLE = msgspec.json.Decoder(_Shell)


def _broken(message: str) -> UpstreamError:
    return UpstreamError.of(upstream_error(message))


class MessagesPassThrough:
    """Relays one Anthropic answer and tallies its usage."""

    def __init__(self, public_model: str) -> None:
        self._model = public_model
        self._tally = UsageTally()
        self._stopped = False
        self._chars = 0  # output streamed that no `message_delta` count covers yet
        self._counted = False  # a `message_delta` reported the output count

    def result(self, body: bytes) -> tuple[msgspec.Raw, Usage]:
        """The whole Message (model set to ours) and its usage."""
        try:
            shell = _WHOLE.decode(body)
            out = with_model(body, self._model)
        except msgspec.DecodeError as ex:
            raise _broken(f"upstream sent malformed JSON: {ex}") from ex
        usage = to_openai_usage(shell.usage) if shell.usage is not None else Usage()
        return msgspec.Raw(out), usage

    def feed(self, event: SseEvent) -> list[msgspec.Raw]:
        """One upstream event, relayed as is (`message_start` with our model id)."""
        data = event.data.encode()
        try:
            parsed = _EVENT.decode(data)
        except msgspec.DecodeError as ex:
            raise _broken(f"upstream sent a malformed stream event: {ex}") from ex
        match parsed.type:
            case "message_start":
                if parsed.message is not None and parsed.message.usage is not None:
                    self._tally.start(parsed.message.usage)
                members = _MEMBERS.decode(data)
                if "message" in members:
                    members["message"] = msgspec.Raw(with_model(members["message"], self._model))
                data = _ENCODER.encode(members)
            case "message_delta":
                if parsed.usage is not None:
                    self._tally.update(parsed.usage)
                    self._counted = self._counted or parsed.usage.output_tokens is not None
            case "content_block_start" | "content_block_delta":
                self._chars += messages_event_chars(data)
            case "message_stop":
                self._stopped = True
            case "error":
                raise from_error_event(parsed.error or ErrorDetail())
        return [msgspec.Raw(data)]

    def usage(self) -> Usage:
        """What the stream reported so far."""
        return self._tally.to_openai()

    def unreported_chars(self) -> int:
        """Output streamed before a cut that no `message_delta` count covers."""
        return 0 if self._counted else self._chars

    def failure(self) -> str | None:
        """None: an upstream `error` event raises (feed) instead."""
        return None

    def close(self) -> None:
        """The stream must have reached `message_stop`."""
        if not self._stopped:
            raise _broken("The upstream stream ended before message_stop.")
