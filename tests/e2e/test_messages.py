"""`/v1/messages` end to end with the official `anthropic` SDK (issue 13).

The same tests run against three routes: a Claude route (pass-through to the fake
Anthropic), an OpenAI-kind route and a Gemini route (converted through the chat shape).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Any

import anthropic
import httpx
import pytest

from gateway.contracts.bus import UsageEvent
from gateway.runtime.estimate import tokens_from_chars
from tests.fakes.anthropic import FakeAnthropic, _tokens
from tests.fakes.openai import PROMPT_TOKENS, FakeOpenAI
from tests.harness.procs import wait_until
from tests.harness.stack import Stack

ROUTES = ["msg-claude", "msg-openai", "msg-gemini"]
WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def claude(stack: Stack, api_key: str) -> anthropic.Anthropic:
    """The official Anthropic SDK pointed at the gateway (no retries: statuses as they are)."""
    root = stack.base_url.removesuffix("/v1")
    return anthropic.Anthropic(base_url=root, api_key=api_key, max_retries=0, timeout=20)


def text_of(message: anthropic.types.Message) -> str:
    """The text blocks of a reply, joined."""
    return "".join(b.text for b in message.content if b.type == "text")


def assert_billed_as_told(stack: Stack, response: Any, usage: anthropic.types.Usage,
                          model: str) -> UsageEvent:
    """The usage the client was told is the usage event billed for the request (`response`:
    the SDK's HTTP response, whose headers carry the gateway's request id)."""
    event = stack.usage_for(response.headers["x-request-id"])
    assert (event.model, event.status, event.estimated) == (model, "ok", False)
    told = (usage.input_tokens + (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0),
            usage.output_tokens)
    assert told == (event.prompt_tokens, event.completion_tokens)
    assert (usage.cache_read_input_tokens or 0) == event.cached_tokens
    if model == "msg-openai":  # the fake OpenAI's fixed usage
        assert (event.prompt_tokens, event.cached_tokens) == (PROMPT_TOKENS, 3)
    return event


@pytest.mark.parametrize("model", ROUTES)
def test_create_answers_a_message_with_usage(claude: anthropic.Anthropic, stack: Stack, model: str) -> None:
    raw = claude.messages.with_raw_response.create(
        model=model, max_tokens=200, system="Be brief.",
        messages=[{"role": "user", "content": "hello there"}],
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.model == model
    assert "hello there" in text_of(message)
    assert message.stop_reason == "end_turn"
    event = assert_billed_as_told(stack, raw.http_response, message.usage, model)
    assert event.prompt_tokens > 0 and event.completion_tokens >= len(text_of(message).split())


@pytest.mark.parametrize("model", ROUTES)
def test_stream_yields_the_event_sequence_and_the_final_message(
        claude: anthropic.Anthropic, stack: Stack, model: str) -> None:
    with claude.messages.stream(
        model=model, max_tokens=200, messages=[{"role": "user", "content": "stream me please"}],
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
        response = stream.response
    assert kinds[0] == "message_start"
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert "stream me please" in text_of(final)
    assert final.stop_reason == "end_turn"
    event = assert_billed_as_told(stack, response, final.usage, model)
    assert event.stream and event.completion_tokens >= len(text_of(final).split())


@pytest.mark.parametrize("model", ROUTES)
@pytest.mark.parametrize("streamed", [False, True])
def test_a_tool_use_loop_with_a_tool_result(claude: anthropic.Anthropic, model: str, streamed: bool) -> None:
    messages: list[Any] = [{"role": "user", "content": "#scenario tools"}]

    def ask() -> anthropic.types.Message:
        if not streamed:
            return claude.messages.create(model=model, max_tokens=300, tools=[WEATHER_TOOL], messages=messages)
        with claude.messages.stream(model=model, max_tokens=300, tools=[WEATHER_TOOL], messages=messages) as s:
            return s.get_final_message()

    first = ask()
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input, dict) and "city" in call.input
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]})
    messages.append({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21 C"}]})
    second = ask()
    assert second.stop_reason == "end_turn"
    assert "sunny, 21 C" in text_of(second)


def test_count_tokens_is_anthropics_own_on_a_claude_route(claude: anthropic.Anthropic,
                                                          fake_anthropic: FakeAnthropic) -> None:
    before = len(fake_anthropic.requests_to("/v1/messages/count_tokens"))
    count = claude.messages.count_tokens(model="msg-claude", messages=[{"role": "user", "content": "count these words"}])
    asked = fake_anthropic.requests_to("/v1/messages/count_tokens")[before:]
    assert len(asked) == 1, "Anthropic's count_tokens was not called"
    body = asked[0].json()
    assert (body["model"], body["messages"]) == ("claude-opus-4-6", [{"role": "user", "content": "count these words"}])
    # the fake's own count of what it was sent, not a local estimate
    prompt = json.dumps(body.get("system", "")) + json.dumps(body["messages"]) + json.dumps(body.get("tools", []))
    assert count.input_tokens == _tokens(prompt)


@pytest.mark.parametrize("model", ["msg-openai", "msg-gemini"])
def test_count_tokens_is_an_estimate_elsewhere(claude: anthropic.Anthropic, fake_anthropic: FakeAnthropic,
                                              model: str) -> None:
    before = len(fake_anthropic.requests_to("/v1/messages/count_tokens"))
    short = claude.messages.count_tokens(model=model, messages=[{"role": "user", "content": "hi"}])
    long = claude.messages.count_tokens(
        model=model, system="x" * 400, tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "hi " * 100}],
    )
    assert short.input_tokens >= 1
    assert long.input_tokens > short.input_tokens + 150
    assert len(fake_anthropic.requests_to("/v1/messages/count_tokens")) == before  # estimated here, not asked


def test_claude_codes_own_ids_map_through_aliases(claude: anthropic.Anthropic) -> None:
    for alias, model in [("claude-sonnet-4-6", "msg-openai"), ("claude-haiku-4-5-20251001", "msg-openai"),
                         ("claude-opus-4-8", "msg-claude")]:
        message = claude.messages.create(model=alias, max_tokens=50, messages=[{"role": "user", "content": "hi"}])
        assert message.model == model


def test_an_unknown_model_is_a_not_found_error(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 404
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "not_found_error" and "no-such-model" in body["error"]["message"]


def test_a_bad_key_is_an_authentication_error(stack: Stack) -> None:
    client = anthropic.Anthropic(base_url=stack.base_url.removesuffix("/v1"), api_key="nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(model="msg-openai", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 401
    assert isinstance(caught.value.body, dict) and caught.value.body["error"]["type"] == "authentication_error"


def test_an_invalid_body_is_a_bad_request_naming_the_field(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(model="msg-openai", max_tokens=10, extra_body={"temperature": 1.5},
                               messages=[{"role": "user", "content": "hi"}])
    body = caught.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error"
    assert "temperature" in body["error"]["message"]


def test_bearer_auth_and_the_models_list_in_anthropics_shape(stack: Stack, api_key: str) -> None:
    root = stack.base_url.removesuffix("/v1")
    client = anthropic.Anthropic(base_url=root, auth_token=api_key, max_retries=0)
    ids = [m.id for m in client.models.list()]
    assert "msg-claude" in ids and "msg-openai" in ids
    one = client.models.retrieve("msg-gemini")
    assert one.type == "model" and one.id == "msg-gemini"
    message = client.messages.create(model="msg-openai", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert message.type == "message"


def test_head_root_is_answered(stack: Stack) -> None:
    root = stack.base_url.removesuffix("/v1") + "/"
    response = httpx.head(root)
    assert (response.status_code, response.content) == (200, b"")  # a probe: no key, no body
    assert response.headers["content-type"].startswith("application/json")
    described = httpx.get(root)  # GET says what is served here
    assert (described.status_code, described.json()) == (
        200, {"service": "llm-gateway", "api": ["/v1/chat/completions", "/v1/messages"]})


def test_claude_codes_api_hello_probe_is_answered(stack: Stack) -> None:
    hello = stack.base_url.removesuffix("/v1") + "/api/hello"
    assert (httpx.head(hello).status_code, httpx.head(hello).content) == (200, b"")
    assert httpx.get(hello).json()["service"] == "llm-gateway"


def test_echo_answers_the_users_words_not_claude_codes_reminders(claude: anthropic.Anthropic) -> None:
    reminder = "<system-reminder>\nThe user opened the file README.md.\n</system-reminder>"
    message = claude.messages.create(model="echo", max_tokens=64, messages=[{"role": "user", "content": [
        {"type": "text", "text": reminder}, {"type": "text", "text": "hello there"},
        {"type": "text", "text": reminder}]}])
    assert text_of(message) == "hello there"


def test_an_upstream_rate_limit_is_a_rate_limit_error(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        claude.messages.create(model="msg-openai", max_tokens=10,
                               messages=[{"role": "user", "content": "#scenario rate_limited"}])
    assert caught.value.response.headers.get("retry-after") == "7"
    assert isinstance(caught.value.body, dict) and caught.value.body["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("model", ["msg-claude", "msg-openai"])
def test_a_failure_mid_stream_raises_the_sdks_error(claude: anthropic.Anthropic, model: str) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        with claude.messages.stream(model=model, max_tokens=100,
                                    messages=[{"role": "user", "content": "#scenario stream_error"}]) as s:
            for _ in s:
                pass
    # Both upstreams fail after the first text: Anthropic with its own overloaded_error
    # (Claude Code's overload handling keys on the type), OpenAI with a server error.
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    expected = "overloaded_error" if model == "msg-claude" else "api_error"
    assert body["error"]["type"] == expected and body["error"]["message"]


@pytest.mark.parametrize("model", ROUTES)
def test_thinking_streams_as_thinking_blocks(claude: anthropic.Anthropic, model: str) -> None:
    with claude.messages.stream(
        model=model, max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[{"role": "user", "content": "#scenario thinking\nthink first"}],
    ) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert "think first" in text_of(final)
    thoughts = [b for b in final.content if b.type == "thinking"]
    if model == "msg-gemini":
        assert not thoughts  # Gemini thinks (billed as output) without showing its thoughts
        return
    assert thoughts and thoughts[0].thinking and final.content[0].type == "thinking"
    assert "thinking_delta" in deltas and "text_delta" in deltas
    if model == "msg-claude":  # Anthropic's own signature, relayed as is
        assert "signature_delta" in deltas and thoughts[0].signature


def test_a_thinking_tool_loop_on_a_claude_route_keeps_the_signed_thinking(claude: anthropic.Anthropic) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 2000}
    messages: list[Any] = [{"role": "user", "content": "#scenario tools"}]
    first = claude.messages.create(model="msg-claude", max_tokens=4000, thinking=thinking,
                                   tools=[WEATHER_TOOL], messages=messages)
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    call = first.content[1]
    assert call.type == "tool_use"
    # The fake refuses a thinking block whose signature it did not issue, and a thinking
    # tool loop whose assistant turn does not start with one: both must pass through intact.
    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "rain"}]}]
    second = claude.messages.create(model="msg-claude", max_tokens=4000, thinking=thinking,
                                    tools=[WEATHER_TOOL], messages=messages)
    assert "rain" in text_of(second) and second.stop_reason == "end_turn"


def test_cache_usage_is_reported_as_anthropic_counts_it(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model="msg-claude", max_tokens=100,
                                     messages=[{"role": "user", "content": "#scenario cached"}])
    assert (message.usage.cache_creation_input_tokens, message.usage.cache_read_input_tokens) == (200, 1000)
    converted = claude.messages.create(model="msg-openai", max_tokens=100,
                                       messages=[{"role": "user", "content": "hi"}])
    # The fake OpenAI reports 11 prompt tokens, 3 of them cached: Anthropic counts them apart.
    assert (converted.usage.input_tokens, converted.usage.cache_read_input_tokens) == (8, 3)


@pytest.mark.parametrize("model", ROUTES)
@pytest.mark.parametrize("streamed", [False, True])
def test_each_request_is_billed_once_with_the_tokens_the_caller_was_told(
    stack: Stack, claude: anthropic.Anthropic, model: str, streamed: bool,
) -> None:
    kwargs: Any = {"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": "bill me"}]}
    if streamed:
        with claude.messages.stream(**kwargs) as stream:
            request_id = stream.response.headers["x-request-id"]
            message = stream.get_final_message()
    else:
        raw_response = claude.messages.with_raw_response.create(**kwargs)
        request_id, message = raw_response.headers["x-request-id"], raw_response.parse()
    event = stack.usage_for(request_id)
    usage = message.usage
    prompt = usage.input_tokens + (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
    assert (event.model, event.status, event.stream, event.estimated) == (model, "ok", streamed, False)
    assert (event.prompt_tokens, event.completion_tokens) == (prompt, usage.output_tokens)
    assert event.cached_tokens == (usage.cache_read_input_tokens or 0)
    assert [e.request_id for e in stack.usage_events()].count(request_id) == 1


def test_count_tokens_is_never_billed(stack: Stack, claude: anthropic.Anthropic) -> None:
    raw = claude.messages.with_raw_response.count_tokens(model="msg-openai", messages=[{"role": "user", "content": "hi"}])
    request_id = raw.headers["x-request-id"]
    billed = claude.messages.with_raw_response.create(model="msg-openai", max_tokens=10,
                                                      messages=[{"role": "user", "content": "after"}])
    stack.usage_for(billed.headers["x-request-id"])  # events of later requests have arrived
    assert request_id not in [e.request_id for e in stack.usage_events()]


def read_events(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    """The first `count` SSE events of a Messages stream, as (event name checked) JSON."""
    events: list[dict[str, Any]] = []
    name = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
            assert data["type"] == name
            events.append(data)
            if len(events) == count:
                break
    return events


@pytest.mark.parametrize("model", ["msg-claude", "msg-openai"])
def test_client_disconnect_mid_stream_cancels_the_upstream_and_bills_what_was_spent(
    stack: Stack, api_key: str, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch, model: str,
) -> None:
    closed = threading.Event()
    before = fake_openai.disconnects
    original = fake_anthropic._send

    def send(*args: Any, **kw: Any) -> bool:
        ok = original(*args, **kw)
        if not ok:
            closed.set()
        return ok

    monkeypatch.setattr(fake_anthropic, "_send", send)
    body = {"model": model, "max_tokens": 500, "stream": True,
            "messages": [{"role": "user", "content": "#scenario slow_stream"}]}
    with httpx.Client(timeout=10) as http:
        with http.stream("POST", f"{stack.base_url}/messages", json=body,
                         headers={"x-api-key": api_key, "anthropic-version": "2023-06-01"}) as response:
            assert response.status_code == 200
            request_id = response.headers["x-request-id"]
            events = read_events(response, 6)
            assert events[0]["type"] == "message_start" and events[1]["type"] in ("ping", "content_block_start")
        # leaving the block closes the connection mid-stream (100 words would take 20 s)
    closed_at = time.monotonic()
    if model == "msg-claude":
        assert closed.wait(5), "the fake Anthropic server still had its connection open"
    else:
        wait_until(lambda: fake_openai.disconnects > before, 5, "the fake OpenAI noticing the disconnect")
    assert time.monotonic() - closed_at < 5
    event = stack.usage_for(request_id)
    assert event.status == "cancelled" and event.prompt_tokens > 0
    # the words streamed before the cut are billed (Anthropic bills them), as an estimate
    streamed = sum(len(e["delta"].get("text", "")) for e in events if e["type"] == "content_block_delta")
    assert event.estimated and event.completion_tokens >= tokens_from_chars(streamed) > 0


@pytest.mark.parametrize("scenario", ["drop_midstream", "error_midstream"])
def test_a_claude_stream_cut_by_the_upstream_bills_its_streamed_output_as_an_estimate(
    stack: Stack, api_key: str, scenario: str,
) -> None:
    # Issue 21: the fake streams the whole text block, then drops the connection or
    # sends an `error` event, with no `message_delta` (the output count) before it.
    text = "y" * 401
    body = {"model": "msg-claude", "max_tokens": 500, "stream": True,
            "messages": [{"role": "user", "content": f"#scenario {scenario}\n{text}"}]}
    response = httpx.post(f"{stack.base_url}/messages", json=body, timeout=20,
                          headers={"x-api-key": api_key, "anthropic-version": "2023-06-01"})
    assert response.status_code == 200 and "event: error" in response.text
    event = stack.usage_for(response.headers["x-request-id"])
    assert (event.status, event.estimated) == ("error", True)
    assert event.prompt_tokens > 0 and event.completion_tokens == tokens_from_chars(len(text)) == 101


def test_a_claude_stream_cut_by_a_gateway_shutdown_bills_its_streamed_output(
    stack: Stack, api_key: str,
) -> None:
    config = stack.workdir / "gateway.toml"
    short_grace = stack.write_config("gateway-term.toml", config.read_text().replace(
        "[gateway]\n", "[gateway]\nshutdown_grace_s = 0.5\n", 1))
    gateway = stack.start_gateway(short_grace, name="gateway-term", primary=False)
    body = {"model": "msg-claude", "max_tokens": 500, "stream": True,
            "messages": [{"role": "user", "content": "#scenario slow_stream"}]}
    with httpx.stream("POST", f"http://127.0.0.1:{gateway.port}/v1/messages", json=body, timeout=20,
                      headers={"x-api-key": api_key, "anthropic-version": "2023-06-01"}) as response:
        request_id = response.headers["x-request-id"]
        events: list[dict[str, Any]] = []
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if len(events) == 6:  # the stream runs: the gateway's shutdown cuts it at its grace
                    gateway.signal(signal.SIGTERM)
    assert events[-1]["type"] == "error"
    assert gateway.popen.wait(15) == 0
    event = stack.usage_for(request_id)
    assert (event.status, event.error_code, event.estimated) == ("cut", "gateway_shutdown", True)
    streamed = sum(len(e["delta"].get("text", "")) for e in events if e["type"] == "content_block_delta")
    assert event.completion_tokens >= tokens_from_chars(streamed) > 0


def test_model_errors_are_in_anthropics_shape_for_anthropic_clients(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.models.retrieve("no-such-model")
    assert isinstance(caught.value.body, dict) and caught.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.NotFoundError) as counted:
        claude.messages.count_tokens(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert isinstance(counted.value.body, dict) and counted.value.body["type"] == "error"


def test_blocks_and_tools_only_claude_serves_pass_through_to_claude_and_are_named_elsewhere(
    stack: Stack, api_key: str, fake_anthropic: FakeAnthropic,
) -> None:
    # Issue 21: valid Anthropic input the gateway used to refuse on every route.
    from tests.contracts.test_anthropic_messages import CLAUDE_ONLY
    headers = {"x-api-key": api_key, "anthropic-version": "2023-06-01"}
    body = {**CLAUDE_ONLY, "model": "msg-claude"}
    response = httpx.post(f"{stack.base_url}/messages", json=body, headers=headers, timeout=20)
    assert response.status_code == 200, response.text
    assert fake_anthropic.bodies[-1] == {**CLAUDE_ONLY, "model": "claude-opus-4-6"}  # as sent
    converted = httpx.post(f"{stack.base_url}/messages", json={**body, "model": "msg-openai"}, headers=headers,
                           timeout=20)
    assert converted.status_code == 400
    error = converted.json()["error"]  # Anthropic's error has no `param`: the message names it
    assert error["type"] == "invalid_request_error" and error["message"].startswith("tools[1].type: ")
    no_toolsets = {**body, "model": "msg-openai", "tools": CLAUDE_ONLY["tools"][:1]}
    blocks = httpx.post(f"{stack.base_url}/messages", json=no_toolsets, headers=headers, timeout=20)
    assert blocks.status_code == 400
    assert blocks.json()["error"]["message"] == (
        "messages[1].content[0].type: 'compaction' blocks are served by Claude models only.")


def test_a_pdf_read_by_a_tool_reaches_an_openai_route_with_a_filename(
    claude: anthropic.Anthropic, fake_openai: FakeOpenAI,
) -> None:
    # Issue 21: Claude Code's Read answers a PDF with an untitled base64 document.
    call: Any = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}}
    message = claude.messages.create(model="msg-openai", max_tokens=50, tools=[WEATHER_TOOL], messages=[
        {"role": "user", "content": "#scenario tools"},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": [{"type": "text", "text": "a pdf"}, pdf]}]}])
    assert message.stop_reason == "end_turn" and text_of(message).startswith("fake: ")


@pytest.mark.parametrize(("model", "scenario", "words"), [
    ("msg-claude", "error_400", "prompt is too long: 250000 tokens > 200000 maximum"),
    ("msg-openai", "context_overflow", "prompt is too long: 250000 tokens > 128000 maximum"),
    ("msg-gemini", "context_overflow", "prompt is too long: 1048577 tokens > 1048576 maximum"),
])
def test_a_context_overflow_is_worded_as_anthropic_words_it_on_every_route(
    claude: anthropic.Anthropic, client: Any, model: str, scenario: str, words: str,
) -> None:
    # Issue 21: Claude Code compacts only on these words (and parses N > M).
    for stream in (False, True):
        with pytest.raises(anthropic.BadRequestError) as caught:
            claude.messages.create(model=model, max_tokens=10, stream=stream,
                                   messages=[{"role": "user", "content": f"#scenario {scenario}"}])
        body = caught.value.body
        assert isinstance(body, dict) and body["error"] == {"type": "invalid_request_error", "message": words}
    # OpenAI's clients key on the code instead, on chat and Responses alike
    import openai
    with pytest.raises(openai.BadRequestError) as chat:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": f"#scenario {scenario}"}])
    assert (chat.value.code, chat.value.param) == ("context_length_exceeded", "messages")
    assert isinstance(chat.value.body, dict) and chat.value.body["message"].startswith(words + " (")
    with pytest.raises(openai.BadRequestError) as responses:
        client.responses.create(model=model, input=f"#scenario {scenario}")
    assert responses.value.code == "context_length_exceeded"


def test_an_overloaded_anthropic_stays_529_overloaded_error_on_messages(claude: anthropic.Anthropic) -> None:
    # Issue 21: Claude Code's overload handling keys on 529 or overloaded_error.
    for stream in (False, True):
        with pytest.raises(anthropic.APIStatusError) as caught:
            claude.messages.create(model="msg-claude", max_tokens=10, stream=stream,
                                   messages=[{"role": "user", "content": "#scenario overloaded"}])
        assert caught.value.status_code == 529
        assert caught.value.response.headers["x-should-retry"] == "true"
        body = caught.value.body
        assert isinstance(body, dict) and body["error"]["type"] == "overloaded_error"
        assert "Overloaded" in body["error"]["message"]


@pytest.mark.parametrize("model", ROUTES)
def test_the_end_users_id_reaches_every_upstream(
    claude: anthropic.Anthropic, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, model: str,
) -> None:
    # Issue 21: metadata.user_id -> safety_identifier on converted routes.
    user_id = "user_" + "a" * 64 + "_account__session_0f0e0d0c-0b0a-0908-0706-050403020100"  # Claude Code's shape
    message = claude.messages.create(model=model, max_tokens=20, metadata={"user_id": user_id},
                                     messages=[{"role": "user", "content": "who am I"}])
    assert "who am I" in text_of(message)
    if model == "msg-claude":
        assert fake_anthropic.bodies[-1]["metadata"] == {"user_id": user_id}
    elif model == "msg-openai":
        sent = fake_openai.received[-1].json()
        assert len(sent["safety_identifier"]) == 64 and sent["safety_identifier"] != user_id[:64]


def test_a_session_switched_to_claude_drops_the_other_models_unsigned_thinking(claude: anthropic.Anthropic) -> None:
    # Issue 21: the fake Anthropic refuses a thinking block whose signature it did not issue.
    first = claude.messages.create(model="msg-openai", max_tokens=100,
                                   messages=[{"role": "user", "content": "#scenario thinking\nhello"}])
    assert [b.type for b in first.content] == ["thinking", "text"]
    assert first.content[0].type == "thinking" and first.content[0].signature == ""
    history: list[Any] = [{"role": "user", "content": "hello"},
                          {"role": "assistant", "content": [b.model_dump() for b in first.content]},
                          {"role": "user", "content": "and now?"}]
    second = claude.messages.create(model="msg-claude", max_tokens=100, messages=history)
    assert text_of(second) == "and now?"


def test_a_400_names_the_messages_field_the_caller_sent_not_the_chat_parameter(claude: anthropic.Anthropic) -> None:
    # Issue 21: Gemini's conversion refuses chat's `parallel_tool_calls: false`.
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(model="msg-gemini", max_tokens=10, tools=[WEATHER_TOOL],
                               tool_choice={"type": "auto", "disable_parallel_tool_use": True},
                               messages=[{"role": "user", "content": "weather?"}])
    body = caught.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error"
    message = body["error"]["message"]
    assert message.startswith("'tool_choice.disable_parallel_tool_use': false is not supported by Gemini")
    assert "parallel_tool_calls" not in message


def test_interleaved_tool_call_fragments_stream_as_one_block_per_call(claude: anthropic.Anthropic) -> None:
    # Issue 21: fragments of calls 0, 1, 0, 1 made four blocks, two of them nameless.
    with claude.messages.stream(model="msg-openai", max_tokens=100, tools=[WEATHER_TOOL],
                                messages=[{"role": "user", "content": "#scenario interleaved_tools"}]) as stream:
        final = stream.get_final_message()
    calls = [(b.id, b.name, b.input) for b in final.content if b.type == "tool_use"]
    assert calls == [("call_fake_0", "get_weather", {"city": "Paris"}), ("call_fake_1", "get_weather", {"city": "London"})]
    assert final.stop_reason == "tool_use" and len(final.content) == 2
