"""PROVIDER (workers/providers/anthropic/__init__.py): the Provider protocol as the service uses it."""

from __future__ import annotations

import json

import pytest

from gateway.contracts.openai import CHAT_REQUEST_DECODER, EMBEDDING_REQUEST_DECODER, ChatCompletion
from workers.providers import load
from workers.providers.anthropic import PROVIDER
from workers.providers.anthropic.stream import AnthropicStream
from gateway.contracts.config import ModelOptions
from workers.providers.base import ConversionError, ReplyContext, Target

TARGET = Target("https://api.anthropic.com", "sk-ant-test", "claude-haiku-4-5", "haiku", ModelOptions(max_output_tokens=4096))


def test_kind_anthropic_loads_this_provider_without_n_or_local_upstream() -> None:
    assert load("anthropic") is PROVIDER
    assert PROVIDER.supports_n is False
    assert PROVIDER.local_upstream is None


def test_chat_request_builds_the_messages_call() -> None:
    req = CHAT_REQUEST_DECODER.decode(b'{"model":"haiku","messages":[{"role":"user","content":"Hi"}],"n":3}')
    up = PROVIDER.chat_request(req, b"", TARGET, stream=False)
    assert up.url == "https://api.anthropic.com/v1/messages"
    assert up.headers["x-api-key"] == "sk-ant-test"
    assert json.loads(up.body) == {
        "model": "claude-haiku-4-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    }


def test_chat_result_is_a_completion_struct_with_the_contexts_choice_index() -> None:
    body = b'{"content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":2}}'
    result = PROVIDER.chat_result(body, ReplyContext("chatcmpl-1", 1, "haiku", lambda p: p, choice_index=1))
    assert isinstance(result.body, ChatCompletion)
    assert [c.index for c in result.body.choices] == [1]
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (3, 2, 5)


def test_chat_stream_returns_a_fresh_converter() -> None:
    ctx = ReplyContext("chatcmpl-1", 1, "haiku", lambda p: p)
    first = PROVIDER.chat_stream(ctx, include_usage=True)
    assert isinstance(first, AnthropicStream)
    assert first is not PROVIDER.chat_stream(ctx, include_usage=True)


def test_error_maps_the_upstream_body() -> None:
    err = PROVIDER.error(429, {"retry-after": "12"}, b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}')
    assert (err.status, err.retry_after) == (429, "12")
    assert (err.error.type, err.error.code, err.error.param) == ("rate_limit_error", "rate_limit_exceeded", None)
    assert err.error.message == "anthropic upstream error (429): rate_limit_error: slow down"


def test_embeddings_are_refused_with_a_400_naming_the_model() -> None:
    req = EMBEDDING_REQUEST_DECODER.decode(b'{"model":"haiku","input":"x"}')
    with pytest.raises(ConversionError) as info:
        PROVIDER.embed_request(req, b"", TARGET)
    assert info.value.error.param == "model"
