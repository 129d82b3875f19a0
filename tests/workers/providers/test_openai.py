"""The openai pass-through provider."""

from __future__ import annotations

import json

import msgspec
import pytest

from gateway.contracts.openai import (
    CHAT_REQUEST_DECODER,
    CompletionTokensDetails,
    PromptTokensDetails,
    Usage,
)
from workers.providers.base import ReplyContext, SseEvent, Target, UpstreamError
from workers.providers.openai import PROVIDER

TARGET = Target(base_url="https://up.example/v1/", api_key="sk-up", upstream_model="up-model", public_model="ours")


def ctx() -> ReplyContext:
    return ReplyContext(completion_id="chatcmpl-1", created=1, model="ours", new_id=lambda p: f"{p}_1")


def test_request_swaps_model_forces_usage_and_keeps_unknown_fields() -> None:
    raw = json.dumps({"model": "ours", "messages": [{"role": "user", "content": "x"}], "stream": True,
                      "stream_options": {"include_usage": False}, "verbosity": "low"}).encode()
    request = PROVIDER.chat_request(CHAT_REQUEST_DECODER.decode(raw), raw, TARGET, True)
    sent = json.loads(request.body)
    assert request.url == "https://up.example/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-up"
    assert sent["model"] == "up-model" and sent["verbosity"] == "low"
    assert sent["stream_options"] == {"include_usage": True}


def test_request_passes_bytes_through_when_nothing_changes() -> None:
    raw = b'{"model":"up-model","messages":[{"role":"user","content":"x"}]}'
    assert PROVIDER.chat_request(CHAT_REQUEST_DECODER.decode(raw), raw, TARGET, False).body is raw


def test_cache_control_marks_are_stripped_and_nothing_else_changes() -> None:
    # Issue 11 item 8: Anthropic's convention; OpenAI caches prefixes by itself.
    mark = {"type": "ephemeral"}
    schema = {"type": "object", "properties": {"cache_control": {"type": "string"}}}
    body = {
        "model": "up-model",
        "messages": [
            {"role": "system", "content": "rules", "cache_control": mark},
            {"role": "user", "content": [{"type": "text", "text": "doc", "cache_control": mark}, {"type": "text", "text": "q"}]},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}, "cache_control": mark}],
    }
    raw = json.dumps(body).encode()
    sent = json.loads(PROVIDER.chat_request(CHAT_REQUEST_DECODER.decode(raw), raw, TARGET, False).body)
    assert sent == {
        "model": "up-model",
        "messages": [
            {"role": "system", "content": "rules"},
            {"role": "user", "content": [{"type": "text", "text": "doc"}, {"type": "text", "text": "q"}]},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],  # a property keeps its name
    }


def test_result_renames_the_model_and_reads_usage() -> None:
    body = json.dumps({"id": "x", "object": "chat.completion", "created": 1, "model": "up-model-2024",
                       "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}).encode()
    result = PROVIDER.chat_result(body, ctx())
    assert isinstance(result.body, msgspec.Raw)
    assert json.loads(bytes(result.body))["model"] == "ours"
    assert result.usage.total_tokens == 5


def test_stream_holds_back_the_usage_chunk_and_needs_done() -> None:
    stream = PROVIDER.chat_stream(ctx(), include_usage=True)
    chunk = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "ours",
             "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
    assert len(stream.feed(SseEvent(json.dumps(chunk)))) == 1
    usage_chunk = {**chunk, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    assert stream.feed(SseEvent(json.dumps(usage_chunk))) == []
    assert stream.usage().total_tokens == 2
    with pytest.raises(UpstreamError):
        PROVIDER.chat_stream(ctx(), include_usage=False).close()
    stream.feed(SseEvent("[DONE]"))
    assert stream.close().usage.total_tokens == 2


def test_error_event_mid_stream_raises() -> None:
    stream = PROVIDER.chat_stream(ctx(), include_usage=False)
    with pytest.raises(UpstreamError) as ex:
        stream.feed(SseEvent('{"error": {"message": "boom", "type": "server_error"}}'))
    assert ex.value.status == 502 and "boom" in ex.value.error.message


@pytest.mark.parametrize(
    ("status", "expected", "code"),
    [(400, 400, None), (401, 502, "upstream_auth_error"), (403, 502, "upstream_auth_error"),
     (404, 502, "upstream_error"), (429, 429, "rate_limit_exceeded"), (500, 502, "upstream_error"),
     (503, 502, "upstream_error"), (504, 504, "upstream_timeout")],
)
def test_errors_by_cause(status: int, expected: int, code: str | None) -> None:
    body = json.dumps({"error": {"message": "upstream says no", "type": "x", "param": "messages", "code": None}}).encode()
    error = PROVIDER.error(status, {"retry-after": "3"}, body)
    assert error.status == expected and error.error.code == code
    assert "upstream says no" in error.error.message
    if expected == 429:
        assert error.retry_after == "3"


def test_dated_upstream_model_is_renamed_in_stream_chunks_without_touching_content() -> None:
    stream = PROVIDER.chat_stream(ctx(), include_usage=False)
    raw = ('{"id":"x","object":"chat.completion.chunk","created":1,"model":"up-model-2024-07-18",'
           '"choices":[{"index":0,"delta":{"content":"say \\"model\\":\\"up-model-2024-07-18\\""}}]}')
    [out] = stream.feed(SseEvent(raw))
    doc = json.loads(bytes(out))
    assert doc["model"] == "ours"
    assert doc["choices"][0]["delta"]["content"] == 'say "model":"up-model-2024-07-18"'


def test_pretty_printed_model_member_is_renamed_too() -> None:
    body = b'{\n  "id": "x",\n  "model" : "up",\n  "choices": [],\n  "usage": null\n}'
    result = PROVIDER.chat_result(body, ctx())
    assert json.loads(bytes(result.body))["model"] == "ours"


NULL_DETAILS = [
    {"prompt_tokens_details": None, "completion_tokens_details": None},
    {"prompt_tokens_details": {"cached_tokens": None, "audio_tokens": None},
     "completion_tokens_details": {"reasoning_tokens": None, "audio_tokens": None}},
]


@pytest.mark.parametrize("details", NULL_DETAILS)
def test_issue_11_nulls_in_a_whole_response_usage_count_as_absent(details: dict[str, object]) -> None:
    usage = {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42, **details}
    body = json.dumps({"id": "x", "object": "chat.completion", "created": 1, "model": "ours",
                       "choices": [], "usage": usage}).encode()
    result = PROVIDER.chat_result(body, ctx())
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (30, 12, 42)
    assert result.usage.cached_tokens() == 0
    assert bytes(result.body) == body  # the caller still gets the upstream's body as is


@pytest.mark.parametrize("details", NULL_DETAILS)
def test_issue_11_nulls_in_the_stream_usage_chunk_count_as_absent(details: dict[str, object]) -> None:
    stream = PROVIDER.chat_stream(ctx(), include_usage=True)
    usage = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12, **details}
    chunk = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "ours", "choices": [], "usage": usage}
    assert stream.feed(SseEvent(json.dumps(chunk))) == []
    stream.feed(SseEvent("[DONE]"))
    usage = stream.close().usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.cached_tokens()) == (7, 5, 12, 0)


def test_issue_11_reported_details_survive_lenient_decoding() -> None:
    usage = {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42,
             "prompt_tokens_details": {"cached_tokens": 20}, "completion_tokens_details": {"reasoning_tokens": 4}}
    body = json.dumps({"id": "x", "model": "ours", "choices": [], "usage": usage}).encode()
    assert PROVIDER.chat_result(body, ctx()).usage == Usage(
        prompt_tokens=30, completion_tokens=12, total_tokens=42,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=20),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=4),
    )


def test_issue_11_null_counts_and_a_missing_total_are_billed_from_what_was_given() -> None:
    body = json.dumps({"id": "x", "model": "ours", "choices": [],
                       "usage": {"prompt_tokens": 9, "completion_tokens": None, "total_tokens": None}}).encode()
    assert PROVIDER.chat_result(body, ctx()).usage == Usage(prompt_tokens=9, completion_tokens=0, total_tokens=9)


@pytest.mark.parametrize("body", [
    {"error": {"message": "This model's maximum context length is 128000 tokens. However, your messages resulted in "
                          "250000 tokens. Please reduce the length of the messages.",
               "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}},
    # vLLM-style servers word it alike without the code
    {"object": "error", "message": "This model's maximum context length is 128000 tokens. However, you requested "
                                   "250000 tokens (249000 in the messages, 1000 in the completion).",
     "type": "BadRequestError", "param": None, "code": 400},
])
def test_a_context_overflow_keeps_its_code_and_counts(body: dict[str, object]) -> None:
    # Issue 21: the code was dropped (null), so no client could recognise it.
    error = PROVIDER.error(400, {}, json.dumps(body).encode())
    assert (error.status, error.error.code, error.error.param) == (400, "context_length_exceeded", "messages")
    assert error.error.message.startswith("prompt is too long: 250000 tokens > 128000 maximum (")
