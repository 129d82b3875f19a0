"""The `anthropic` provider kind: OpenAI Chat Completions <-> Anthropic Messages API.

`PROVIDER` ties the modules together; each does one job and is pure:
`request.py` (parameters), `messages.py` (turns, system, content parts), `tools.py`
(tools, tool_choice, JSON mode, tool-call ids), `thinking.py` (reasoning_effort by the
model's thinking flag), `cache.py` (prompt-cache breakpoints), `response.py` (Message -> ChatCompletion),
`stream.py` (events -> chunks), `finish.py`, `usage.py`, `errors.py`, `schema.py` (wire
Structs). Anthropic has no `n`: the service fans out n calls (`supports_n = False`).
What each OpenAI parameter becomes is in docs/compat-anthropic.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.contracts.openai import ChatRequest, EmbeddingRequest
from workers.providers.anthropic.errors import from_response
from workers.providers.anthropic.request import to_upstream_request
from workers.providers.anthropic.response import to_chat_result
from workers.providers.anthropic.stream import AnthropicStream
from workers.providers.base import (
    ChatResult,
    ConversionError,
    EmbedResult,
    LocalUpstream,
    ReplyContext,
    Target,
    UpstreamError,
    UpstreamRequest,
)


class AnthropicProvider:
    """Conversion rules for Anthropic's Messages API (`POST /v1/messages`)."""

    supports_n = False
    max_embed_inputs: int | None = None
    local_upstream: LocalUpstream | None = None

    def chat_request(self, req: ChatRequest, raw: bytes, target: Target, stream: bool) -> UpstreamRequest:
        """The Messages request; ConversionError (400) names what Claude cannot take."""
        return to_upstream_request(req, target, stream)

    def chat_result(self, body: bytes, ctx: ReplyContext) -> ChatResult:
        """One choice (index `ctx.choice_index`) and the usage of a 2xx reply."""
        return to_chat_result(body, ctx)

    def chat_stream(self, ctx: ReplyContext, include_usage: bool) -> AnthropicStream:
        """A converter for one stream; the service sends the usage chunk itself."""
        return AnthropicStream(ctx)

    def embed_request(self, req: EmbeddingRequest, raw: bytes, target: Target) -> UpstreamRequest:
        """Anthropic has no embeddings API: a 400 naming the model."""
        raise ConversionError(
            f"The model '{req.model}' is served by Anthropic, which has no embeddings API.",
            "model",
        )

    def embed_result(self, body: bytes, req: EmbeddingRequest, ctx: ReplyContext) -> EmbedResult:
        """Never reached: `embed_request` always refuses."""
        raise ConversionError("Anthropic has no embeddings API.", "model")

    def error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """An Anthropic error response mapped by cause (our key -> 502, 429 -> 429...)."""
        return from_response(status, headers, body)


PROVIDER = AnthropicProvider()

__all__ = ["PROVIDER", "AnthropicProvider"]
