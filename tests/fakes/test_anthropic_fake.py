"""The fake Anthropic API refuses what the real one refuses, streams its framing, and
accepts everything the anthropic provider sends (a round trip through both)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.contracts.config import ModelOptions
from gateway.contracts.openai import CHAT_REQUEST_DECODER, JSON_ENCODER, ChatCompletion
from tests.fakes.anthropic import FakeAnthropic, sign_thinking
from workers.providers.anthropic import PROVIDER
from workers.providers.base import ReplyContext, Target, UpstreamError
from workers.sse import SseDecoder

KEY = "test-anthropic-key"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}
TIME = {"type": "function", "function": {"name": "get_time"}}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic(api_key=KEY, max_output=64000)
    server.start()
    yield server
    server.stop()


def _post(fake: FakeAnthropic, body: Any, headers: dict[str, str] | None = None, path: str = "/v1/messages") -> httpx.Response:
    return httpx.post(fake.url + path, headers=HEADERS if headers is None else headers, content=json.dumps(body), timeout=10)


def _minimal(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}], **fields}


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


# ---------------------------------------------------------------- headers and paths


def test_missing_api_key_is_401_authentication_error(fake: FakeAnthropic) -> None:
    response = _post(fake, _minimal(), {"anthropic-version": "2023-06-01"})
    assert response.status_code == 401
    assert response.json() == {**_error("authentication_error", "x-api-key header is required"), "request_id": response.headers["request-id"]}


def test_wrong_api_key_is_401(fake: FakeAnthropic) -> None:
    response = _post(fake, _minimal(), {**HEADERS, "x-api-key": "nope"})
    assert (response.status_code, response.json()["error"]["message"]) == (401, "invalid x-api-key")


def test_missing_version_header_is_400(fake: FakeAnthropic) -> None:
    response = _post(fake, _minimal(), {"x-api-key": KEY})
    assert response.status_code == 400
    assert response.json()["error"] == {"type": "invalid_request_error", "message": "anthropic-version: header is required"}


def test_other_paths_are_404(fake: FakeAnthropic) -> None:
    sent = len(fake.bodies)
    for response in (_post(fake, _minimal(), path="/v1/complete"),
                     httpx.get(fake.url + "/v1/messages", headers=HEADERS, timeout=10)):
        assert response.status_code == 404
        assert response.json() == {**_error("not_found_error", "Not found"), "request_id": response.headers["request-id"]}
    assert len(fake.bodies) == sent  # neither was taken for a message


# ---------------------------------------------------------------- what the real API rejects

TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
TOOLS = [{"name": "get_weather", "input_schema": {"type": "object"}}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "Hi"}]}, "max_tokens: Field required"),
        (_minimal(n=2), "n: Extra inputs are not permitted"),
        (_minimal(temperature=1.5), "temperature: Input should be less than or equal to 1"),
        (_minimal(stop_sequences=["\n"]), "stop_sequences: each stop sequence must contain non-whitespace"),
        (_minimal(max_tokens=100000), "max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-5"),
        (_minimal(messages=[{"role": "assistant", "content": "Hi"}]), 'messages: first message must use the "user" role'),
        (
            _minimal(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]),
            'messages: roles must alternate between "user" and "assistant", but found multiple "user" roles in a row',
        ),
        (_minimal(messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]), "messages: text content blocks must be non-empty"),
        (_minimal(messages=[{"role": "user", "content": [{"type": "text", "text": " \n"}]}]), "messages: text content blocks must contain non-whitespace text"),
        (_minimal(system=[{"type": "text", "text": ""}]), "system: text content blocks must be non-empty"),
        (
            _minimal(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b "}]),
            "messages: final assistant content cannot end with trailing whitespace",
        ),
        (
            _minimal(tools=TOOLS, messages=[
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": [TOOL_USE]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "y"},
                ]},
            ]),
            "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_2. Each `tool_result` "
            "block must have a corresponding `tool_use` block in the previous message.",
        ),
        (
            _minimal(tools=TOOLS, messages=[
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": [TOOL_USE]},
                {"role": "user", "content": "next"},
            ]),
            "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each "
            "`tool_use` block must have a corresponding `tool_result` block in the next message.",
        ),
        (
            _minimal(messages=[
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": [TOOL_USE]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
            ]),
            "Requests which include `tool_use` or `tool_result` blocks must define tools.",
        ),
        (_minimal(thinking={"type": "enabled", "budget_tokens": 500}), "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"),
        (
            _minimal(thinking={"type": "enabled", "budget_tokens": 2048}),
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
            "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
        ),
        (
            _minimal(messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "AA=="}}]}]),
            "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
        ),
        (
            _minimal(max_tokens=4000, tools=TOOLS, thinking={"type": "enabled", "budget_tokens": 2048}, messages=[
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "forged"}, TOOL_USE]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
            ]),
            "messages.1.content.0: Invalid `signature` in `thinking` block",
        ),
    ],
)
def test_rejects_what_the_real_api_rejects(fake: FakeAnthropic, body: dict[str, Any], message: str) -> None:
    response = _post(fake, body)
    assert response.status_code == 400
    assert response.json() == {**_error("invalid_request_error", message), "request_id": response.headers["request-id"]}


def test_open_tool_loop_with_thinking_needs_the_thinking_block_first(fake: FakeAnthropic) -> None:
    body = _minimal(max_tokens=4000, tools=TOOLS, thinking={"type": "enabled", "budget_tokens": 2048}, messages=[
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [TOOL_USE]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
    ])
    message = _post(fake, body).json()["error"]["message"]
    assert message.startswith("messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`.")
    signed = {"type": "thinking", "thinking": "hm", "signature": sign_thinking("hm")}
    body["messages"][1]["content"].insert(0, signed)
    assert _post(fake, body).status_code == 200


# ---------------------------------------------------------------- scenarios


def test_default_reply_echoes_the_last_user_text(fake: FakeAnthropic) -> None:
    response = _post(fake, _minimal(messages=[{"role": "user", "content": "Ping me back"}]))
    body = response.json()
    assert response.status_code == 200
    assert (body["type"], body["role"], body["model"]) == ("message", "assistant", "claude-sonnet-4-5")
    assert body["content"] == [{"type": "text", "text": "Ping me back"}]
    assert (body["stop_reason"], body["stop_sequence"]) == ("end_turn", None)
    assert set(body["usage"]) == {"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens"}
    assert fake.received[-1].json()["messages"][0]["content"] == "Ping me back"


def test_stream_is_named_sse_events_in_anthropics_order(fake: FakeAnthropic) -> None:
    response = _post(fake, _minimal(stream=True, messages=[{"role": "user", "content": "Hello there"}]))
    assert response.headers["content-type"] == "text/event-stream"
    raw = response.text
    names = [line[len("event: "):] for line in raw.split("\n") if line.startswith("event: ")]
    assert names == [
        "message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop",
    ]
    assert raw.startswith('event: message_start\ndata: {"type":"message_start","message":{"id":"msg_')
    assert 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello "}}\n\n' in raw
    assert raw.endswith('event: message_stop\ndata: {"type":"message_stop"}\n\n')


@pytest.mark.parametrize(
    ("scenario", "status", "kind"),
    [
        ("overloaded", 529, "overloaded_error"),
        ("rate_limited", 429, "rate_limit_error"),
        ("server_error", 500, "api_error"),
        ("timeout", 504, "timeout_error"),
        ("not_found", 404, "not_found_error"),
        ("bad_key", 401, "authentication_error"),
        ("error_401", 401, "authentication_error"),
        ("error_500", 500, "api_error"),
        ("error_400", 400, "invalid_request_error"),
    ],
)
def test_error_scenarios_answer_with_anthropics_error_body(fake: FakeAnthropic, scenario: str, status: int, kind: str) -> None:
    response = _post(fake, _minimal(stream=True, messages=[{"role": "user", "content": f"#scenario {scenario}"}]))
    assert response.status_code == status
    assert response.json()["error"]["type"] == kind
    if status == 429:
        assert response.headers["retry-after"] == "7"


def test_error_midstream_ends_with_an_error_event(fake: FakeAnthropic) -> None:
    response = _post(fake, _minimal(stream=True, messages=[{"role": "user", "content": "#scenario error_midstream\nTell a story"}]))
    assert response.status_code == 200
    assert response.text.endswith('event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n')
    assert "message_stop" not in response.text


def test_tools_scenario_calls_the_first_tool_with_input_from_its_schema(fake: FakeAnthropic) -> None:
    body = _minimal(tools=[{"name": "get_weather", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}}],
                    messages=[{"role": "user", "content": "#scenario tools"}])
    reply = _post(fake, body).json()
    assert reply["stop_reason"] == "tool_use"
    assert [(b["type"], b["name"], b["input"]) for b in reply["content"]] == [("tool_use", "get_weather", {"location": "Paris"})]


# ---------------------------------------------------------------- round trip with the provider

TARGET_MAX = 8192
CTX = ReplyContext("chatcmpl-rt", 1700000000, "claude", lambda p: f"{p}_1")


def _target(fake: FakeAnthropic) -> Target:
    return Target(fake.url, KEY, "claude-sonnet-4-5", "claude", ModelOptions(max_output_tokens=TARGET_MAX))


def _chat(fake: FakeAnthropic, body: dict[str, Any], stream: bool = False) -> dict[str, Any]:
    """Send an OpenAI request through the provider to the fake; the converted reply."""
    req = CHAT_REQUEST_DECODER.decode(json.dumps({"model": "claude", **body}).encode())
    up = PROVIDER.chat_request(req, b"", _target(fake), stream)
    response = httpx.post(up.url, headers=dict(up.headers), content=up.body, timeout=10)
    assert response.status_code == 200, response.text
    if not stream:
        result = PROVIDER.chat_result(response.content, CTX)
        assert isinstance(result.body, ChatCompletion)
        return json.loads(JSON_ENCODER.encode(result.body))["choices"][0]
    converter = PROVIDER.chat_stream(CTX, include_usage=False)
    decoder = SseDecoder()
    message: dict[str, Any] = {"content": "", "tool_calls": {}, "finish_reason": None}
    for event in decoder.feed(response.content) + decoder.close():
        for chunk in converter.feed(event):
            delta = json.loads(JSON_ENCODER.encode(chunk))["choices"][0]
            message["content"] += delta["delta"].get("content") or ""
            message["finish_reason"] = delta["finish_reason"] or message["finish_reason"]
            for call in delta["delta"].get("tool_calls", []):
                entry = message["tool_calls"].setdefault(call["index"], {"id": call.get("id"), "arguments": ""})
                entry["arguments"] += call["function"].get("arguments", "")
    converter.close()
    return message


@pytest.mark.parametrize("stream", [False, True])
def test_provider_tool_loop_with_thinking_round_trips_through_the_fake(fake: FakeAnthropic, stream: bool) -> None:
    first = {"messages": [{"role": "user", "content": "#scenario parallel_tools"}], "tools": [WEATHER, TIME], "reasoning_effort": "low"}
    reply = _chat(fake, first, stream)
    assert reply["finish_reason"] == "tool_calls"
    calls = reply["message"]["tool_calls"] if not stream else [
        {"id": c["id"], "type": "function", "function": {"name": "x", "arguments": c["arguments"]}} for c in reply["tool_calls"].values()
    ]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"location": "Paris"}, {}]
    history = first["messages"] + [{"role": "assistant", "content": "I'll call two tools.", "tool_calls": calls}] + [
        {"role": "tool", "tool_call_id": c["id"], "content": f"result {i}"} for i, c in enumerate(calls)
    ]
    second = _chat(fake, {**first, "messages": history}, stream)
    content = second["content"] if stream else second["message"]["content"]
    assert content == "Tool results: result 0 | result 1"
    sent = fake.received[-1].json()
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert sent["messages"][1]["content"][0]["type"] == "thinking"


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "system", "content": "Only a system prompt."}]},
        {"messages": [{"role": "assistant", "content": "Hello, how can I help?"}, {"role": "user", "content": "Hi"}]},
        {"messages": [{"role": "user", "content": ""}, {"role": "user", "content": "x"}, {"role": "assistant", "content": "Sure "}]},
        {"messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}], "stop": ["END"], "user": "u-1", "temperature": 0.2},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}, {"type": "text", "text": "What is it?"}]}]},
        {"messages": [{"role": "user", "content": "#scenario tools"}], "tools": [WEATHER], "tool_choice": "required", "parallel_tool_calls": False},
        {"messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "call_abc", "type": "function", "function": {"name": "lookup", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "call_abc", "content": "42"},
        ]},
    ],
)
def test_fake_accepts_every_shape_the_provider_sends(fake: FakeAnthropic, body: dict[str, Any]) -> None:
    reply = _chat(fake, body)
    assert reply["finish_reason"] in ("stop", "tool_calls")


@pytest.mark.parametrize("stream", [False, True])
def test_json_mode_round_trip_returns_json_content(fake: FakeAnthropic, stream: bool) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}}}
    body = {"messages": [{"role": "user", "content": "Largest city?"}], "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": schema}}}
    reply = _chat(fake, body, stream)
    content = reply["content"] if stream else reply["message"]["content"]
    assert json.loads(content) == {"city": "Paris", "population": 42}
    assert reply["finish_reason"] == "stop"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("scenario", "finish"),
    [("max_tokens", "length"), ("refusal", "content_filter"), ("stop_sequence", "stop"), ("thinking", "stop"), ("max_tokens_tool", "length")],
)
def test_scenario_finish_reasons_survive_the_provider(fake: FakeAnthropic, scenario: str, finish: str, stream: bool) -> None:
    body = {"messages": [{"role": "user", "content": f"#scenario {scenario}"}], "stop": ["3"], "tools": [WEATHER]}
    assert _chat(fake, body, stream)["finish_reason"] == finish


def _stream_converter(fake: FakeAnthropic, text: str) -> tuple[Any, list[Any]]:
    req = CHAT_REQUEST_DECODER.decode(json.dumps({"model": "claude", "messages": [{"role": "user", "content": text}]}).encode())
    up = PROVIDER.chat_request(req, b"", _target(fake), True)
    converter = PROVIDER.chat_stream(CTX, include_usage=True)
    decoder = SseDecoder()
    with httpx.stream("POST", up.url, headers=dict(up.headers), content=up.body, timeout=10) as response:
        assert response.status_code == 200
        events = [e for raw in response.iter_raw() for e in decoder.feed(raw)]
    return converter, events + decoder.close()


def test_connection_cut_midstream_is_an_early_end_for_the_converter(fake: FakeAnthropic) -> None:
    converter, events = _stream_converter(fake, "#scenario drop_midstream\nA long story")
    chunks = [c for e in events for c in converter.feed(e)]
    assert chunks
    with pytest.raises(UpstreamError) as info:
        converter.close()
    assert info.value.error.message == "anthropic upstream stream ended early (no message_stop)"
    assert converter.usage().prompt_tokens > 0


def test_cached_scenario_bills_cache_reads_and_writes_as_prompt_tokens(fake: FakeAnthropic) -> None:
    converter, events = _stream_converter(fake, "#scenario cached\nSummarise the document")
    for event in events:
        converter.feed(event)
    usage = converter.close().usage
    input_tokens = json.loads(events[0].data)["message"]["usage"]["input_tokens"]
    assert usage.cached_tokens() == 1000
    assert usage.prompt_tokens == input_tokens + 200 + 1000
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_slow_stream_sends_one_word_at_a_time_until_the_client_leaves(fake: FakeAnthropic) -> None:
    body = _minimal(stream=True, messages=[{"role": "user", "content": "#scenario slow_stream"}])
    seen = []
    with httpx.stream("POST", fake.url + "/v1/messages", headers=HEADERS, content=json.dumps(body), timeout=10) as response:
        for line in response.iter_lines():
            if '"text_delta"' in line:
                seen.append(json.loads(line[len("data: "):])["delta"]["text"])
            if len(seen) == 3:
                break
    assert seen == ["word1 ", "word2 ", "word3 "]


# ---------------------------------------------------------------- newer rules (issue 11)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"temperature": 0.5, "top_p": 0.9}, "`temperature` and `top_p` cannot both be specified for this model"),
        ({"model": "claude-opus-4-7", "max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 2048}},
         "thinking.type.enabled is not supported for claude-opus-4-7"),
        ({"thinking": {"type": "adaptive"}}, "thinking.type: 'adaptive' is not supported on claude-sonnet-4-5"),
        ({"model": "claude-opus-4-7", "output_config": {"effort": "extreme"}}, "output_config.effort: Input should be"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": c, "cache_control": {"type": "ephemeral"}}
                                                    for c in "abcde"]}]},
         "A maximum of 4 blocks with cache_control may be provided. Found 5."),
    ],
)
def test_rejects_what_newer_models_reject(fake: FakeAnthropic, fields: dict[str, Any], message: str) -> None:
    response = _post(fake, _minimal(**fields))
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(message)


def test_adaptive_thinking_is_accepted_where_the_model_takes_it(fake: FakeAnthropic) -> None:
    body = _minimal(model="claude-opus-4-7", thinking={"type": "adaptive"}, output_config={"effort": "low"})
    reply = _post(fake, body).json()
    assert [b["type"] for b in reply["content"]] == ["thinking", "text"]


def test_prompt_cache_writes_then_reads_the_marked_prefix(fake: FakeAnthropic) -> None:
    system = [{"type": "text", "text": "Fake cache rules. " * 40, "cache_control": {"type": "ephemeral"}}]
    first = _post(fake, _minimal(system=system, messages=[{"role": "user", "content": "one"}])).json()["usage"]
    assert first["cache_read_input_tokens"] == 0 and first["cache_creation_input_tokens"] > 100
    second = _post(fake, _minimal(system=system, messages=[{"role": "user", "content": "two"}])).json()["usage"]
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert second["cache_creation_input_tokens"] == 0 and second["input_tokens"] > 0
