"""The `gemini` provider kind: Google's Gemini API v1beta behind the OpenAI API.

Endpoints (base URL as Google's SDK spells it, `https://generativelanguage.googleapis.com`):
`/v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse` and
`:batchEmbedContents`. The key goes in the `x-goog-api-key` header, never in the URL.
What maps to what is in docs/compat-gemini.md; each module owns one direction or piece.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from msgspec import UNSET

from gateway.contracts.openai import ChatRequest, EmbeddingRequest
from workers.providers.base import (
    ChatResult,
    EmbedResult,
    LocalUpstream,
    ReplyContext,
    Target,
    UpstreamError,
    UpstreamRequest,
)
from workers.providers.gemini import errors
from workers.providers.gemini.embed import MAX_BATCH, to_batch_embed_request, to_embed_result
from workers.providers.gemini.request import to_generate_content_request
from workers.providers.gemini.response import to_chat_result
from workers.providers.gemini.schema import REQUEST_ENCODER
from workers.providers.gemini.stream import GeminiStream
from workers.providers.param_rules import capped

__all__ = ["PROVIDER", "GeminiProvider", "GeminiStream"]


def model_id(upstream_model: str) -> str:
    """The bare model id for the URL path (a configured `models/` prefix is dropped)."""
    return upstream_model.removeprefix("models/")


def _url(target: Target, method: str) -> str:
    return f"{target.base_url.rstrip('/')}/v1beta/models/{model_id(target.upstream_model)}:{method}"


def _headers(target: Target) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if target.api_key:
        headers["x-goog-api-key"] = target.api_key
    return headers


class GeminiProvider:
    """Converts OpenAI chat and embeddings requests to Gemini and the answers back."""

    supports_n = True  # generationConfig.candidateCount
    max_embed_inputs: int | None = MAX_BATCH  # the service splits longer lists
    local_upstream: LocalUpstream | None = None

    def chat_request(
        self, req: ChatRequest, raw: bytes, target: Target, stream: bool
    ) -> UpstreamRequest:
        """The generateContent (or SSE streamGenerateContent) request."""
        # The model rules' table (with the entry's flags) decides whether thinking can be off.
        flags = msgspec.structs.replace(target.options.gemini,
                                        thinking_can_be_off=target.options.rules.thinking_can_be_off)
        limit = req.output_limit()
        if limit is not None and capped(limit, target) != limit:
            req = msgspec.structs.replace(req, max_completion_tokens=capped(limit, target), max_tokens=UNSET)
        body = REQUEST_ENCODER.encode(to_generate_content_request(req, raw, flags))
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return UpstreamRequest(
            url=_url(target, method), headers=_headers(target), body=body, stream=stream
        )

    def chat_result(self, body: bytes, ctx: ReplyContext) -> ChatResult:
        """A whole generateContent response as a ChatCompletion."""
        return to_chat_result(body, ctx)

    def chat_stream(self, ctx: ReplyContext, include_usage: bool) -> GeminiStream:
        """A converter for one SSE stream (the service emits the usage chunk itself)."""
        return GeminiStream(ctx)

    def embed_request(self, req: EmbeddingRequest, raw: bytes, target: Target) -> UpstreamRequest:
        """The batchEmbedContents request, one entry per input."""
        batch = to_batch_embed_request(req, model_id(target.upstream_model))
        return UpstreamRequest(
            url=_url(target, "batchEmbedContents"),
            headers=_headers(target),
            body=REQUEST_ENCODER.encode(batch),
        )

    def embed_result(self, body: bytes, req: EmbeddingRequest, ctx: ReplyContext) -> EmbedResult:
        """A batchEmbedContents response as an OpenAI embeddings response."""
        return to_embed_result(body, req, ctx)

    def error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """Google's error body mapped to our public error table."""
        return errors.from_response(status, headers, body)


PROVIDER = GeminiProvider()
