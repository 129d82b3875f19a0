"""The seam between the worker service and a provider's conversion code.

A provider module converts OpenAI <-> native and owns nothing else: no I/O, no NATS, no
clock, no id generation (ids and timestamps come in a `ReplyContext`). The worker does
the rest: the HTTP call and SSE parsing (`workers/pump.py`), n > 1 fan-out for providers
without `n` and the usage chunk (`workers/fanout.py`), the UsageEvent (`workers/billing.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from gateway.contracts.config import ModelOptions
from gateway.contracts.errors import APIError, invalid_request
from gateway.contracts.openai import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    EmbeddingRequest,
    EmbeddingResponse,
    Usage,
)


class ConversionError(APIError):
    """The caller's request cannot be expressed upstream: a 400 naming `param`."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        error = invalid_request(message, param, code)
        super().__init__(error.status, error.error)


class UpstreamError(APIError):
    """The upstream failed; `status` follows DESIGN.md's table, the message is kept.

    `usage` is what the upstream reported spending on a failed answer (e.g. a prompt it
    read and then blocked), so it is billed as reported rather than estimated.
    """

    usage: Usage | None = None

    @classmethod
    def of(cls, error: APIError) -> UpstreamError:
        """An error of the table (gateway/contracts/errors.py) as the upstream's failure."""
        return cls(error.status, error.error, error.retry_after, error.headers)

    def with_usage(self, usage: Usage) -> UpstreamError:
        """This error, carrying the usage the upstream reported."""
        self.usage = usage
        return self


@dataclass(frozen=True, slots=True)
class Target:
    """Where one request goes: the provider's settings and the model's."""

    base_url: str
    api_key: str | None
    upstream_model: str
    public_model: str
    options: ModelOptions = ModelOptions()  # the model entry's, as the Job carried them
    dialect: str = "chat"  # the caller's dialect: refusals name the caller's own fields


@dataclass(slots=True)
class ReplyContext:
    """What a converter may not make up itself: ids, time and the public model name."""

    completion_id: str
    created: int
    model: str
    new_id: Callable[[str], str]  # new_id("call") -> "call_<unique>"
    choice_index: int = 0  # this call's choice when the service fans out n > 1


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """One HTTP request to send upstream."""

    url: str
    headers: Mapping[str, str]
    body: bytes
    method: str = "POST"
    stream: bool = False
    # Parameters the model refuses, left out (by the caller's names): the gateway names
    # them in `x-gateway-dropped-params` (gateway/contracts/model_rules.py).
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One server-sent event as parsed by `workers/sse.py`."""

    data: str
    event: str = "message"
    id: str | None = None


@dataclass(slots=True)
class ChatResult:
    """A converted non-stream completion and the usage to bill.

    `body` is a ChatCompletion, or msgspec.Raw when the upstream body passes through as is.
    """

    body: ChatCompletion | msgspec.Raw
    usage: Usage
    estimated: bool = False


@dataclass(slots=True)
class EmbedResult:
    """A converted embeddings response and the usage to bill."""

    body: EmbeddingResponse | msgspec.Raw
    usage: Usage
    estimated: bool = False


@dataclass(slots=True)
class StreamOutcome:
    """What a finished stream leaves behind: per-choice finish reasons and usage."""

    usage: Usage = field(default_factory=Usage)
    estimated: bool = False


@dataclass(slots=True)
class LocalResponse:
    """The answer of an in-process upstream (see LocalUpstream)."""

    status: int
    headers: Mapping[str, str]
    body: AsyncIterator[bytes]


class LocalUpstream(Protocol):
    """An upstream served inside the worker (the offline `echo` provider), no network."""

    async def respond(self, request: UpstreamRequest) -> LocalResponse:
        """Answer one request as the HTTP upstream would."""
        ...


class ChunkConverter(Protocol):
    """Turns one upstream stream into OpenAI chunks, one event at a time."""

    def feed(self, event: SseEvent) -> list[ChatCompletionChunk | msgspec.Raw]:
        """Chunks for one upstream event; raises UpstreamError on an error event."""
        ...

    def usage(self) -> Usage:
        """Usage seen so far (billed even when the stream breaks)."""
        ...

    def close(self) -> StreamOutcome:
        """The end of the stream; raises UpstreamError if it ended too early."""
        ...


class Provider(Protocol):
    """One provider kind's conversion rules."""

    # False: the upstream has no `n`, the service runs n calls and merges them.
    supports_n: bool
    # Set only by providers that answer in-process instead of over HTTP.
    local_upstream: LocalUpstream | None
    # Most embedding inputs one upstream call takes; the service splits longer lists.
    max_embed_inputs: int | None

    def chat_request(self, req: ChatRequest, raw: bytes, target: Target, stream: bool) -> UpstreamRequest:
        """The upstream request for a chat job; raises ConversionError (400)."""
        ...

    def chat_result(self, body: bytes, ctx: ReplyContext) -> ChatResult:
        """Convert a whole upstream response (status 2xx)."""
        ...

    def chat_stream(self, ctx: ReplyContext, include_usage: bool) -> ChunkConverter:
        """A converter for one upstream stream."""
        ...

    def embed_request(self, req: EmbeddingRequest, raw: bytes, target: Target) -> UpstreamRequest:
        """The upstream request for an embeddings job; raises ConversionError (400)."""
        ...

    def embed_result(self, body: bytes, req: EmbeddingRequest, ctx: ReplyContext) -> EmbedResult:
        """Convert a whole upstream embeddings response (status 2xx)."""
        ...

    def error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """Map an upstream error response (status >= 400) to DESIGN.md's table."""
        ...
