"""The provider against tests/fakes/gemini.py over real HTTP (no worker service, no NATS).

Checks both sides at once: that the fake speaks Gemini like Google does (status codes,
error bodies, SSE framing) and that what the provider sends is accepted by it
(PITFALLS 10, 13, 14, 15, 16).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from gateway.contracts.openai import EMBEDDING_REQUEST_DECODER
from tests.fakes.gemini import FAILED_OUTPUT_TOKENS, FAILURE_MESSAGES, FakeGemini, fake_vector, words
from tests.workers.providers.gemini.conftest import as_json, chat_request, make_ctx
from workers.providers.base import Target, UpstreamError, UpstreamRequest
from workers.providers.gemini import PROVIDER
from workers.sse import SseDecoder

KEY = "fake-key-123"
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City"},
                "unit": {
                    "anyOf": [{"type": "string", "enum": ["c", "f"]}, {"type": "null"}],
                    "default": None,
                },
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    server = FakeGemini(KEY)
    server.start()
    yield server
    server.stop()


def target(fake: FakeGemini, key: str | None = KEY) -> Target:
    return Target(
        base_url=fake.url + "/",
        api_key=key,
        upstream_model="gemini-fake",
        public_model="gemini-public",
    )


def send(upstream: UpstreamRequest) -> httpx.Response:
    return httpx.request(
        upstream.method,
        upstream.url,
        headers=dict(upstream.headers),
        content=upstream.body,
        timeout=10,
    )


class Outcome:
    """What the service would see: status, converted body/chunks, usage or the error."""

    def __init__(self) -> None:
        self.status = 200
        self.body: Any = None
        self.chunks: list[Any] = []
        self.usage: Any = None
        self.error: UpstreamError | None = None


def chat(
    fake: FakeGemini, body: dict[str, Any], stream: bool = False, key: str | None = KEY
) -> Outcome:
    req, raw = chat_request(body)
    response = send(PROVIDER.chat_request(req, raw, target(fake, key), stream))
    out = Outcome()
    if response.status_code >= 400:
        out.error = PROVIDER.error(response.status_code, response.headers, response.content)
        out.status = out.error.status
        return out
    ctx = make_ctx()
    try:
        if not stream:
            result = PROVIDER.chat_result(response.content, ctx)
            out.body, out.usage = as_json(result.body), as_json(result.usage)
            return out
        converter = PROVIDER.chat_stream(ctx, include_usage=True)
        decoder = SseDecoder()
        try:
            for event in decoder.feed(response.content) + decoder.close():
                out.chunks.extend(as_json(c) for c in converter.feed(event))
            out.usage = as_json(converter.close().usage)
        finally:
            out.usage = out.usage or as_json(converter.usage())
    except UpstreamError as ex:
        out.error, out.status = ex, ex.status
    return out


def said(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def streamed_text(out: Outcome) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in out.chunks)


# ---------------------------------------------------------------- auth and framing


def test_missing_key_is_403_permission_denied_and_our_502(fake: FakeGemini) -> None:
    raw = httpx.post(f"{fake.url}/v1beta/models/gemini-fake:generateContent", json={"contents": []})
    assert raw.status_code == 403
    assert raw.json()["error"]["status"] == "PERMISSION_DENIED"
    out = chat(fake, said("hi"), key=None)
    assert (out.status, out.error and out.error.error.code) == (502, "upstream_auth_error")


def test_wrong_key_is_400_api_key_invalid_and_our_502(fake: FakeGemini) -> None:
    raw = httpx.post(
        f"{fake.url}/v1beta/models/gemini-fake:generateContent",
        headers={"x-goog-api-key": "nope"},
        json={},
    )
    assert raw.status_code == 400
    assert raw.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    out = chat(fake, said("hi"), key="nope")
    assert (out.status, out.error and out.error.error.code) == (502, "upstream_auth_error")


def test_sse_events_are_framed_like_googles(fake: FakeGemini) -> None:
    req, raw = chat_request(said("one two three four five <six> & seven"))
    response = send(PROVIDER.chat_request(req, raw, target(fake), stream=True))
    assert response.headers["content-type"] == "text/event-stream"
    events = response.content.split(b"\r\n\r\n")
    assert events[-1] == b""
    assert all(
        e.startswith(b'data: {"candidates": [{"content": {"parts": [{"text": ') for e in events[:-1]
    )
    assert b"\\u003csix\\u003e" in response.content and b"\\u0026 seven" in response.content
    payloads = [json.loads(e[6:]) for e in events[:-1]]
    assert [p["usageMetadata"]["candidatesTokenCount"] for p in payloads] == [3, 6, 8]
    assert payloads[-1]["candidates"][0]["finishReason"] == "STOP"


def test_stream_without_alt_sse_is_a_json_array(fake: FakeGemini) -> None:
    response = httpx.post(
        f"{fake.url}/v1beta/models/gemini-fake:streamGenerateContent",
        headers={"x-goog-api-key": KEY},
        json={"contents": [{"role": "user", "parts": [{"text": "a b c d"}]}]},
    )
    assert [c["candidates"][0]["content"]["parts"][0]["text"] for c in response.json()] == [
        "a b c ",
        "d",
    ]


# ---------------------------------------------------------------- replies


def test_default_reply_echoes_the_last_user_text(fake: FakeGemini) -> None:
    out = chat(fake, said("Hello there, Gemini"))
    assert out.body["choices"][0]["message"]["content"] == "Hello there, Gemini"
    assert out.body["choices"][0]["finish_reason"] == "stop"
    assert out.usage == {
        "prompt_tokens": 3,
        "completion_tokens": 3,
        "total_tokens": 6,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


# PITFALLS 10
def test_streamed_and_whole_replies_bill_the_same(fake: FakeGemini) -> None:
    body = {**said("a fairly long sentence to split into several events"), "n": 2}
    whole, streamed = chat(fake, body), chat(fake, body, stream=True)
    assert whole.usage == streamed.usage
    assert [c["message"]["content"] for c in whole.body["choices"]] == [
        "a fairly long sentence to split into several events"
    ] * 2
    assert [
        c["choices"][0]["finish_reason"]
        for c in streamed.chunks
        if c["choices"][0]["finish_reason"]
    ] == [
        "stop",
        "stop",
    ]


def test_candidate_count_returns_that_many_choices(fake: FakeGemini) -> None:
    out = chat(fake, {**said("x"), "n": 3})
    assert [c["index"] for c in out.body["choices"]] == [0, 1, 2]


def test_system_instruction_and_generation_config_are_accepted(fake: FakeGemini) -> None:
    body = {
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "one two three four five"},
        ],
        "temperature": 0.1,
        "top_p": 0.5,
        "max_completion_tokens": 2,
        "stop": ["\n"],
        "seed": 1,
        "reasoning_effort": "low",
    }
    out = chat(fake, body)
    assert out.body["choices"][0]["message"]["content"] == "one two"
    assert out.body["choices"][0]["finish_reason"] == "length"
    sent = fake.received[-1].json()
    assert sent["generationConfig"] == {
        "stopSequences": ["\n"],
        "maxOutputTokens": 2,
        "temperature": 0.1,
        "topP": 0.5,
        "seed": 1,
        "thinkingConfig": {"thinkingBudget": 1024},
    }


def test_json_schema_response_format_is_accepted(fake: FakeGemini) -> None:
    schema = {
        "type": "object",
        "properties": {"reply": {"type": "string"}},
        "required": ["reply"],
        "additionalProperties": False,
    }
    body = {
        **said("hi"),
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}},
    }
    out = chat(fake, body)
    assert json.loads(out.body["choices"][0]["message"]["content"]) == {"reply": "hi"}


# ---------------------------------------------------------------- tools (PITFALLS 13, 14, 15)


# PITFALLS 13, 15
def test_parallel_tool_loop_round_trips_with_results_in_another_order(fake: FakeGemini) -> None:
    first = chat(fake, {**said("#scenario parallel_tools"), "tools": [WEATHER]})
    message = first.body["choices"][0]["message"]
    assert first.body["choices"][0]["finish_reason"] == "tool_calls"
    calls = message["tool_calls"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"city": "city-0", "unit": "c"},
        {"city": "city-1", "unit": "f"},
        {"city": "city-2", "unit": "c"},
    ]
    assert len({c["id"] for c in calls}) == 3
    history = [
        {"role": "user", "content": "#scenario parallel_tools"},
        message,
        *(
            {"role": "tool", "tool_call_id": c["id"], "content": json.dumps({"n": k})}
            for k, c in reversed(list(enumerate(calls)))
        ),
    ]
    second = chat(fake, {"messages": history, "tools": [WEATHER]}, stream=True)
    assert second.error is None
    assert streamed_text(second) == (
        'Tool results: get_weather={"n": 0}; get_weather={"n": 1}; get_weather={"n": 2}'
    )


def test_streamed_parallel_calls_have_indices_and_unique_ids(fake: FakeGemini) -> None:
    out = chat(fake, {**said("#scenario parallel_tools"), "tools": [WEATHER]}, stream=True)
    deltas = [d for c in out.chunks for d in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [d["index"] for d in deltas] == [0, 1, 2]
    assert len({d["id"] for d in deltas}) == 3
    assert all(json.loads(d["function"]["arguments"])["city"] for d in deltas)
    assert "thought_signature" in deltas[0]["extra_content"]["google"]


# PITFALLS 15
def test_history_without_signatures_is_accepted_thanks_to_the_placeholder(fake: FakeGemini) -> None:
    history = [
        {"role": "user", "content": "#scenario tools"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "x1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "x1", "content": "cold"},
    ]
    out = chat(fake, {"messages": history, "tools": [WEATHER]})
    assert (
        out.body["choices"][0]["message"]["content"]
        == 'Tool results: get_weather={"result": "cold"}'
    )


def test_fake_refuses_a_current_turn_call_without_signature(fake: FakeGemini) -> None:
    contents = [
        {"role": "user", "parts": [{"text": "go"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"r": 1}}}]},
    ]
    response = httpx.post(
        f"{fake.url}/v1beta/models/gemini-fake:generateContent",
        headers={"x-goog-api-key": KEY},
        json={"contents": contents},
    )
    assert response.status_code == 400
    assert "missing a thought_signature" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("contents", "fragment"),
    [
        ([], "contents is not specified"),
        (
            [{"role": "assistant", "parts": [{"text": "x"}]}],
            "Please use a valid role: user, model.",
        ),
        ([{"role": "user", "parts": []}], "contents.parts must not be empty"),
        ([{"role": "user", "parts": [{"text": ""}]}], "required oneof field 'data'"),
        (
            [
                {"role": "user", "parts": [{"text": "x"}]},
                {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {"name": "f"},
                            "thoughtSignature": "skip_thought_signature_validator",
                        }
                    ],
                },
                {"role": "user", "parts": [{"functionResponse": {"response": {}}}]},
            ],
            "Name cannot be empty",
        ),
    ],
)
def test_fake_rejects_what_gemini_rejects(fake: FakeGemini, contents: Any, fragment: str) -> None:
    response = httpx.post(
        f"{fake.url}/v1beta/models/gemini-fake:generateContent",
        headers={"x-goog-api-key": KEY},
        json={"contents": contents},
    )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert fragment in response.json()["error"]["message"]


def test_fake_rejects_json_schema_keys_in_parameters(fake: FakeGemini) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "f", "parameters": WEATHER["function"]["parameters"]}
                ]
            }
        ],
    }
    response = httpx.post(
        f"{fake.url}/v1beta/models/gemini-fake:generateContent",
        headers={"x-goog-api-key": KEY},
        json=body,
    )
    assert response.status_code == 400
    assert 'Unknown name "$schema"' in response.json()["error"]["message"]


# ---------------------------------------------------------------- scenarios


def test_safety_scenario_is_content_filter(fake: FakeGemini) -> None:
    out = chat(fake, said("#scenario safety tell me more"), stream=True)
    assert out.chunks[-1]["choices"][0]["finish_reason"] == "content_filter"
    assert streamed_text(out) == "#scenario safety tell"


def test_blocked_prompt_is_a_content_filter_error_both_ways(fake: FakeGemini) -> None:
    for stream in (False, True):
        out = chat(fake, said("#scenario blocked_prompt"), stream=stream)
        assert out.error is not None
        assert (out.status, out.error.error.code) == (400, "content_filter")


def test_max_tokens_scenario_is_length(fake: FakeGemini) -> None:
    out = chat(fake, said("#scenario max_tokens one two three four five six"))
    assert out.body["choices"][0]["finish_reason"] == "length"
    assert out.body["choices"][0]["message"]["content"] == "#scenario max_tokens one two"


# PITFALLS 16
def test_error_midstream_ends_with_an_upstream_error_after_two_chunks(fake: FakeGemini) -> None:
    out = chat(fake, said("#scenario error_midstream"), stream=True)
    assert len(out.chunks) == 2
    assert out.error is not None and out.status == 502
    assert "INTERNAL" in out.error.error.message
    assert out.usage["completion_tokens"] == 6


# PITFALLS 16
def test_cut_midstream_is_detected_at_close(fake: FakeGemini) -> None:
    out = chat(fake, said("#scenario cut_midstream"), stream=True)
    assert len(out.chunks) == 2
    assert out.error is not None and out.status == 502
    assert "before Gemini reported a finishReason" in out.error.error.message


def test_rate_limited_scenario_is_429_with_retry_after(fake: FakeGemini) -> None:
    out = chat(fake, said("#scenario rate_limited"), stream=True)
    assert out.error is not None
    assert (out.status, out.error.retry_after, out.error.error.code) == (
        429,
        "7",
        "rate_limit_exceeded",
    )


def test_overloaded_scenario_is_502(fake: FakeGemini) -> None:
    out = chat(fake, said("#scenario overloaded"))
    assert out.status == 502
    assert out.error is not None and "overloaded" in out.error.error.message


def test_thinking_and_cached_scenarios_report_their_tokens(fake: FakeGemini) -> None:
    thinking = chat(fake, said("#scenario thinking a b"))
    assert thinking.usage["completion_tokens_details"] == {"reasoning_tokens": 12}
    assert thinking.usage["completion_tokens"] == 4 + 12
    cached = chat(fake, said("#scenario cached a b c"))
    assert cached.usage["prompt_tokens_details"] == {"cached_tokens": 2}


def test_malformed_function_call_scenario_is_502(fake: FakeGemini) -> None:
    out = chat(fake, said("#scenario malformed_function_call"))
    assert out.status == 502 and out.error is not None
    assert (out.error.error.type, out.error.error.code) == ("upstream_error", "upstream_error")
    assert out.error.error.message == (
        "gemini upstream error: Gemini produced no output (finishReason MALFORMED_FUNCTION_CALL): "
        + FAILURE_MESSAGES["malformed_function_call"])
    # billed as Google reported it: the prompt's words, the failed output's tokens
    assert out.error.usage is not None
    assert (out.error.usage.prompt_tokens, out.error.usage.completion_tokens) == (
        words("#scenario malformed_function_call"), FAILED_OUTPUT_TOKENS)


# ---------------------------------------------------------------- embeddings


def test_batch_embeddings_come_back_in_order_with_dimensions(fake: FakeGemini) -> None:
    raw = json.dumps(
        {"model": "embed-public", "input": ["alpha", "beta", "gamma"], "dimensions": 8}
    ).encode()
    req = EMBEDDING_REQUEST_DECODER.decode(raw)
    response = send(PROVIDER.embed_request(req, raw, target(fake)))
    assert response.status_code == 200
    result = PROVIDER.embed_result(response.content, req, make_ctx())
    body = as_json(result.body)
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    for item, text in zip(body["data"], ["alpha", "beta", "gamma"], strict=True):
        truncated = fake_vector(text, 768)[:8]
        norm = sum(v * v for v in truncated) ** 0.5
        assert item["embedding"] == pytest.approx([v / norm for v in truncated])
    assert (result.usage.prompt_tokens, result.estimated) == (5, True)  # ~4 characters a token


def test_embedding_batch_over_100_is_refused_by_the_fake(fake: FakeGemini) -> None:
    requests = [{"model": "models/gemini-fake", "content": {"parts": [{"text": "x"}]}}] * 101
    response = httpx.post(
        f"{fake.url}/v1beta/models/gemini-fake:batchEmbedContents",
        headers={"x-goog-api-key": KEY},
        json={"requests": requests},
    )
    assert response.status_code == 400
    assert "at most 100 requests" in response.json()["error"]["message"]


def test_responses_decode_with_the_provider_schema(fake: FakeGemini) -> None:
    req, raw = chat_request(said("check"))
    response = send(PROVIDER.chat_request(req, raw, target(fake), stream=False))
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert msgspec.json.decode(response.content)["modelVersion"] == "gemini-fake"


def test_slow_scenario_spaces_its_events() -> None:
    server = FakeGemini(KEY, slow_chunks=3, slow_delay=0.05)
    server.start()
    try:
        out = chat(server, said("#scenario slow"), stream=True)
    finally:
        server.stop()
    assert streamed_text(out) == "w0 w1 w2 w3 w4 w5 w6 w7 w8"
    assert len(out.chunks) == 4


def test_unknown_upstream_model_is_404_and_our_502() -> None:
    server = FakeGemini(KEY, models={"gemini-2.5-flash"})
    server.start()
    try:
        out = chat(server, said("hi"))
    finally:
        server.stop()
    assert out.status == 502
    assert out.error is not None
    assert "models/gemini-fake is not found for API version v1beta" in out.error.error.message
