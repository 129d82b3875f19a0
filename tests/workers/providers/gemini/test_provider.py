"""The `gemini` provider as the worker service sees it (workers/providers/gemini/__init__.py)."""

from __future__ import annotations

import json

from gateway.contracts.openai import EMBEDDING_REQUEST_DECODER, EmbeddingResponse
from tests.workers.providers.gemini.conftest import chat_request, fixture_bytes, make_ctx
from workers.providers.base import ChunkConverter, Provider, ReplyContext, Target
from workers.providers.gemini import PROVIDER, GeminiStream

TARGET = Target(
    base_url="https://generativelanguage.googleapis.com/",
    api_key="AIza-secret",
    upstream_model="gemini-2.5-flash",
    public_model="gemini-public",
)


def test_provider_declares_n_support_and_no_local_upstream() -> None:
    provider: Provider = PROVIDER  # NOTE: mypy checks the Protocol here
    converter: ChunkConverter = PROVIDER.chat_stream(make_ctx(), include_usage=False)
    assert converter is not None and provider is PROVIDER
    assert PROVIDER.supports_n is True
    assert PROVIDER.local_upstream is None


def test_chat_request_posts_generate_content_with_the_key_in_a_header() -> None:
    req, raw = chat_request({"messages": [{"role": "user", "content": "Hi"}]})
    upstream = PROVIDER.chat_request(req, raw, TARGET, stream=False)
    assert upstream.method == "POST"
    assert (
        upstream.url
        == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert upstream.headers == {"content-type": "application/json", "x-goog-api-key": "AIza-secret"}
    assert "AIza-secret" not in upstream.url
    assert json.loads(upstream.body) == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    assert upstream.stream is False


def test_stream_request_asks_for_sse() -> None:
    req, raw = chat_request({"messages": [{"role": "user", "content": "Hi"}], "stream": True})
    upstream = PROVIDER.chat_request(req, raw, TARGET, stream=True)
    assert upstream.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert upstream.stream is True


def test_configured_models_prefix_is_not_doubled() -> None:
    req, raw = chat_request({"messages": [{"role": "user", "content": "Hi"}]})
    target = Target(
        base_url="http://127.0.0.1:9",
        api_key=None,
        upstream_model="models/gemini-2.0-flash",
        public_model="p",
    )
    upstream = PROVIDER.chat_request(req, raw, target, stream=False)
    assert upstream.url == "http://127.0.0.1:9/v1beta/models/gemini-2.0-flash:generateContent"
    assert upstream.headers == {"content-type": "application/json"}


def test_embed_request_posts_batch_embed_contents() -> None:
    req = EMBEDDING_REQUEST_DECODER.decode(b'{"model": "e", "input": ["a", "b"]}')
    upstream = PROVIDER.embed_request(req, b"", TARGET)
    assert (
        upstream.url
        == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:batchEmbedContents"
    )
    assert upstream.headers["x-goog-api-key"] == "AIza-secret"
    assert [r["model"] for r in json.loads(upstream.body)["requests"]] == [
        "models/gemini-2.5-flash"
    ] * 2


def test_results_errors_and_streams_are_wired(ctx: ReplyContext) -> None:
    result = PROVIDER.chat_result(fixture_bytes("generate_content_text.json"), ctx)
    assert result.usage.total_tokens == 39
    assert isinstance(PROVIDER.chat_stream(ctx, include_usage=True), GeminiStream)
    err = PROVIDER.error(429, {}, fixture_bytes("error_rate_limited.json"))
    assert (err.status, err.retry_after) == (429, "35")
    req = EMBEDDING_REQUEST_DECODER.decode(b'{"model": "e", "input": ["a", "b"]}')
    embedded = PROVIDER.embed_result(fixture_bytes("batch_embed_contents.json"), req, ctx).body
    assert isinstance(embedded, EmbeddingResponse) and len(embedded.data) == 2
