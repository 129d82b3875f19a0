"""Gemini through the OpenAI API, end to end: the official SDK -> gateway -> NATS -> worker
(gemini provider) -> the fake Gemini server (tests/fakes/gemini.py), and back.

Each test asserts what the caller sees (content, finish_reason, usage, errors) and what
reached the upstream (`fake_gemini.received`). The fake rejects what the real API rejects
(unknown fields and schema keys, roles other than user/model, empty parts, function
responses that do not pair with the calls, a missing key header...), so a 200 is itself
proof that the request was well formed. The fake counts tokens as whitespace-separated
words, cumulative on every stream event; the expected usage numbers below follow that rule.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import openai
import pytest

from tests.e2e.conftest import FAKE_GEMINI_KEY
from tests.e2e.streams import finish_reasons, streamed_text
from tests.fakes.gemini import (
    FAILED_OUTPUT_TOKENS,
    FAILURE_MESSAGES,
    FakeGemini,
    fake_vector,
    prompt_words,
    words,
)
from tests.harness.stack import Stack

MODEL = "gemini-test"
EMBED_MODEL = "gemini-embed-test"
CHAT_PATH = "/v1beta/models/gemini-upstream-flash:generateContent"
STREAM_PATH = "/v1beta/models/gemini-upstream-flash:streamGenerateContent?alt=sse"
EMBED_PATH = "/v1beta/models/gemini-upstream-embedding:batchEmbedContents"
PLACEHOLDER_SIGNATURE = "skip_thought_signature_validator"
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def fn_tool(name: str, prop: str | None = None, description: str | None = None) -> dict[str, Any]:
    """An OpenAI function tool with one required string property (or no parameters)."""
    function: dict[str, Any] = {"name": name}
    if description:
        function["description"] = description
    if prop:
        function["parameters"] = {
            "type": "object",
            "properties": {prop: {"type": "string"}},
            "required": [prop],
        }
    return {"type": "function", "function": function}


WEATHER = fn_tool("get_weather", "city", "Weather of a city")
CLOCK = fn_tool("get_time", "zone", "Time in a zone")
NEWS = fn_tool("get_news", "topic", "Headlines on a topic")
WEATHER_DECLARATION = {
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
}


# ---------------------------------------------------------------- helpers


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def last(fake: FakeGemini) -> Any:
    """The last request that reached the fake (any method)."""
    return fake.received[-1]


def last_body(fake: FakeGemini) -> dict[str, Any]:
    return last(fake).json()


def stream_chunks(client: openai.OpenAI, **kw: Any) -> list[Any]:
    return list(client.chat.completions.create(model=MODEL, stream=True, **kw))




def tool_call_deltas(chunks: list[Any]) -> list[Any]:
    return [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]


def cost_micro_usd(event: Any) -> int:
    """The event's cost at gemini-test's prices (USD per 1M tokens = micro-dollars a token)."""
    uncached = event.prompt_tokens - event.cached_tokens
    exact = (uncached + event.cached_tokens) * Decimal("0.3") + event.completion_tokens * Decimal("2.5")
    return int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))


def usage_tuple(usage: Any) -> tuple[int, int, int]:
    return (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)


def event_tuple(event: Any) -> tuple[int, int, int, int]:
    return (event.prompt_tokens, event.completion_tokens, event.total_tokens, event.cached_tokens)


def no_empty_parts(body: dict[str, Any]) -> None:
    """No part anywhere is an empty or whitespace-only text (PITFALLS 4)."""
    system = [body["systemInstruction"]] if "systemInstruction" in body else []
    for content in [*system, *body["contents"]]:
        assert content["parts"], content
        for part in content["parts"]:
            if "text" in part:
                assert part["text"].strip(), part


# ---------------------------------------------------------------- plain completions


def test_plain_completion_reaches_generate_content_with_the_key_in_a_header(
    client: openai.OpenAI, fake_gemini: FakeGemini
) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=[user("hello gemini world")])
    assert reply.model == MODEL and reply.object == "chat.completion"
    assert [c.index for c in reply.choices] == [0]
    message = reply.choices[0].message
    assert (message.role, message.content, message.tool_calls) == ("assistant", "hello gemini world", None)
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and usage_tuple(reply.usage) == (3, 3, 6)
    received = last(fake_gemini)
    assert received.path == CHAT_PATH  # the upstream model id, never ours; no ?key= in the URL
    assert "key=" not in received.path and "gemini-test" not in received.path
    assert received.headers["x-goog-api-key"] == FAKE_GEMINI_KEY
    assert "authorization" not in received.headers
    assert received.json() == {"contents": [{"role": "user", "parts": [{"text": "hello gemini world"}]}]}


def test_plain_stream_role_first_content_deltas_and_one_finish(
    client: openai.OpenAI, fake_gemini: FakeGemini
) -> None:
    chunks = stream_chunks(client, messages=[user("one two three four five six seven")])
    received = last(fake_gemini)
    assert received.path == STREAM_PATH
    assert received.headers["x-goog-api-key"] == FAKE_GEMINI_KEY
    assert received.json() == {
        "contents": [{"role": "user", "parts": [{"text": "one two three four five six seven"}]}]
    }
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:])
    contents = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert contents == ["one two three ", "four five six ", "seven"]  # the fake's three events
    assert finish_reasons(chunks) == ["stop"]
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].choices[0].delta.content is None
    assert {c.model for c in chunks} == {MODEL}
    assert len({c.id for c in chunks}) == 1
    assert all(c.object == "chat.completion.chunk" and c.usage is None for c in chunks)


def test_generation_config_carries_the_sampling_parameters(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=[user("a b c")], temperature=0.3, top_p=0.9, max_tokens=50,
        stop=["END", "\n"], seed=42, presence_penalty=0.5, frequency_penalty=-0.25,
        user="someone", metadata={"k": "v"}, parallel_tool_calls=True,
    )
    assert reply.choices[0].message.content == "a b c"
    body = last_body(fake_gemini)
    assert body["generationConfig"] == {
        "temperature": 0.3, "topP": 0.9, "maxOutputTokens": 50, "stopSequences": ["END", "\n"],
        "seed": 42, "presencePenalty": 0.5, "frequencyPenalty": -0.25,
    }
    assert set(body) == {"contents", "generationConfig"}  # user/metadata are not sent


def test_stop_string_becomes_a_list_and_max_completion_tokens_wins(
    client: openai.OpenAI, fake_gemini: FakeGemini
) -> None:
    client.chat.completions.create(
        model=MODEL, messages=[user("a b c")], stop="STOP", max_tokens=50, max_completion_tokens=20
    )
    assert last_body(fake_gemini)["generationConfig"] == {"stopSequences": ["STOP"], "maxOutputTokens": 20}


def test_reasoning_effort_becomes_a_thinking_budget(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    client.chat.completions.create(model=MODEL, messages=[user("think")], reasoning_effort="low")
    assert last_body(fake_gemini)["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 1024}}


def test_reasoning_effort_none_is_a_zero_budget_and_logprobs_are_requested(
    client: openai.OpenAI, fake_gemini: FakeGemini
) -> None:
    client.chat.completions.create(
        model=MODEL, messages=[user("quick")], reasoning_effort="none", logprobs=True, top_logprobs=2
    )
    assert last_body(fake_gemini)["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 0}, "responseLogprobs": True, "logprobs": 2
    }


def test_googles_invalid_argument_is_a_400_with_its_message(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model=MODEL, messages=[user("x")], n=9)  # Gemini allows 1..8
    assert last_body(fake_gemini)["generationConfig"] == {"candidateCount": 9}
    assert ex.value.status_code == 400 and ex.value.body["type"] == "invalid_request_error"
    assert "INVALID_ARGUMENT" in ex.value.message and "candidate_count: must be between 1 and 8" in ex.value.message


def test_json_object_response_format(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=[user("give json")], response_format={"type": "json_object"}
    )
    assert last_body(fake_gemini)["generationConfig"] == {"responseMimeType": "application/json"}
    assert json.loads(reply.choices[0].message.content or "") == {"reply": "give json"}


def test_json_schema_response_format_becomes_response_schema(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    schema = {
        "type": "object",
        "properties": {"reply": {"type": "string"}, "count": {"type": ["integer", "null"]}},
        "required": ["reply", "count"],
        "additionalProperties": False,
    }
    reply = client.chat.completions.create(
        model=MODEL, messages=[user("structured")],
        response_format={"type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": True}},
    )
    assert json.loads(reply.choices[0].message.content or "") == {"reply": "structured"}
    assert last_body(fake_gemini)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {"reply": {"type": "STRING"}, "count": {"type": "INTEGER", "nullable": True}},
            "required": ["reply", "count"],
            "propertyOrdering": ["reply", "count"],
        },
    }


# ---------------------------------------------------------------- n > 1


def test_n_2_is_one_call_with_candidate_count(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    before = len(fake_gemini.received)
    reply = client.chat.completions.create(model=MODEL, messages=[user("twice over")], n=2)
    assert len(fake_gemini.received) == before + 1
    assert last_body(fake_gemini)["generationConfig"] == {"candidateCount": 2}
    assert [c.index for c in reply.choices] == [0, 1]
    assert [c.message.content for c in reply.choices] == ["twice over", "twice over"]
    assert [c.finish_reason for c in reply.choices] == ["stop", "stop"]
    assert reply.usage is not None and usage_tuple(reply.usage) == (2, 4, 6)


def test_n_2_stream(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    before = len(fake_gemini.received)
    chunks = stream_chunks(
        client, messages=[user("one two three four")], n=2, stream_options={"include_usage": True}
    )
    assert len(fake_gemini.received) == before + 1
    assert last(fake_gemini).path == STREAM_PATH
    assert last_body(fake_gemini)["generationConfig"] == {"candidateCount": 2}
    assert all(len(c.choices) == 1 for c in chunks[:-1])
    for index in (0, 1):
        mine = [c for c in chunks if c.choices and c.choices[0].index == index]
        assert mine[0].choices[0].delta.role == "assistant"
        assert streamed_text(chunks, index) == "one two three four"
        assert finish_reasons(chunks, index) == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert usage_tuple(chunks[-1].usage) == (4, 8, 12)


# ---------------------------------------------------------------- usage and billing


def test_include_usage_is_one_final_chunk_with_the_last_usage_metadata(client: openai.OpenAI) -> None:
    chunks = stream_chunks(
        client, messages=[user("one two three four five six seven")], stream_options={"include_usage": True}
    )
    with_usage = [c for c in chunks if c.usage is not None]
    assert with_usage == [chunks[-1]]
    assert chunks[-1].choices == []
    # three events with cumulative candidatesTokenCount 3, 6, 7: the last, never the sum (16)
    assert usage_tuple(chunks[-1].usage) == (7, 7, 14)
    assert all(c.choices for c in chunks[:-1])
    assert streamed_text(chunks[:-1]) == "one two three four five six seven"


def test_stream_without_include_usage_still_bills_the_tokens(client: openai.OpenAI, stack: Stack) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[user("one two three four five six seven")], stream=True
    )
    request_id = raw.headers["x-request-id"]
    chunks = list(raw.parse())
    assert all(c.usage is None and c.choices for c in chunks)
    event = stack.usage_for(request_id)
    assert event_tuple(event) == (7, 7, 14, 0)
    assert (event.model, event.provider, event.upstream_model) == (MODEL, "gemini", "gemini-upstream-flash")
    assert (event.status, event.stream, event.op, event.estimated) == ("ok", True, "chat", False)


def test_streamed_and_non_streamed_requests_bill_the_same(client: openai.OpenAI, stack: Stack) -> None:
    messages = [{"role": "system", "content": "be exact"}, user("alpha beta gamma delta epsilon zeta eta")]
    plain = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages)
    streamed = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages, stream=True)
    list(streamed.parse())
    one, two = stack.usage_for(plain.headers["x-request-id"]), stack.usage_for(streamed.headers["x-request-id"])
    assert event_tuple(one) == event_tuple(two) == (9, 7, 16, 0)
    assert (one.stream, two.stream) == (False, True)
    assert (one.status, two.status, one.estimated, two.estimated) == ("ok", "ok", False, False)
    assert [cost_micro_usd(e) for e in (one, two)] == [20, 20]  # 9 x 0.3 + 7 x 2.5 = 20.2, rounded once
    assert plain.parse().usage is not None and usage_tuple(plain.parse().usage) == (9, 7, 16)


@pytest.mark.parametrize("stream", [False, True])
def test_cached_tokens_are_part_of_the_prompt(client: openai.OpenAI, stack: Stack, stream: bool) -> None:
    prompt = "#scenario cached one two three four five"  # 7 words, cachedContentTokenCount 3
    kw: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=[user(prompt)], **kw)
    parsed = raw.parse()
    usage = list(parsed)[-1].usage if stream else parsed.usage
    assert usage is not None and usage_tuple(usage) == (7, 7, 14)
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 3
    assert usage.prompt_tokens_details.cached_tokens <= usage.prompt_tokens
    assert event_tuple(stack.usage_for(raw.headers["x-request-id"])) == (7, 7, 14, 3)


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_tokens_count_as_completion(client: openai.OpenAI, stack: Stack, stream: bool) -> None:
    prompt = "#scenario thinking a b"  # 4 words; thoughtsTokenCount 12
    kw: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=[user(prompt)], **kw)
    parsed = raw.parse()
    if stream:
        chunks = list(parsed)
        usage, content = chunks[-1].usage, streamed_text(chunks[:-1])
    else:
        usage, content = parsed.usage, parsed.choices[0].message.content
    assert content == prompt  # no thought text in content
    assert usage is not None and usage_tuple(usage) == (4, 16, 20)
    assert usage.completion_tokens_details is not None and usage.completion_tokens_details.reasoning_tokens == 12
    assert event_tuple(stack.usage_for(raw.headers["x-request-id"])) == (4, 16, 20, 0)


# ---------------------------------------------------------------- function calling


def test_tool_loop_end_to_end_with_the_thought_signature_echoed(
    client: openai.OpenAI, fake_gemini: FakeGemini
) -> None:
    messages: list[Any] = [user("Weather in Paris? #scenario tools")]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    sent = last_body(fake_gemini)
    assert sent["tools"] == [{"functionDeclarations": [WEATHER_DECLARATION]}]
    assert "toolConfig" not in sent
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.id.startswith("call_") and call.type == "function"
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "city-0"})
    signature = (call.model_extra or {})["extra_content"]["google"]["thought_signature"]
    assert signature in fake_gemini.issued_signatures
    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21, "sky": "clear"}'}]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == 'Tool results: get_weather={"sky": "clear", "temp": 21}'
    assert last_body(fake_gemini)["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris? #scenario tools"}]},
        {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "city-0"}}, "thoughtSignature": signature}
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp": 21, "sky": "clear"}}}
        ]},
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_issue_11_a_history_starting_with_a_tool_call_gets_a_user_turn_first(
    client: openai.OpenAI, fake_gemini: FakeGemini, stream: bool
) -> None:
    # an agent that trimmed its old turns: the history begins with the assistant's tool call
    messages: list[Any] = [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_t", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
        ]},
        {"role": "tool", "tool_call_id": "call_t", "content": "snow"},
    ]
    if stream:
        chunks = stream_chunks(client, messages=messages, tools=[WEATHER])
        assert streamed_text(chunks) == 'Tool results: get_weather={"result": "snow"}'
    else:
        reply = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
        assert reply.choices[0].message.content == 'Tool results: get_weather={"result": "snow"}'
    contents = last_body(fake_gemini)["contents"]
    assert contents[0] == {"role": "user", "parts": [{"text": "."}]}
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"][0]["functionCall"] == {"name": "get_weather", "args": {"city": "Oslo"}}


@pytest.mark.parametrize(("model", "sent"), [
    ("gemini-test", {"thinkingConfig": {"thinkingBudget": 0}}),
    ("gemini-pro-test", None),  # 2.5 Pro-like: thinking cannot be turned off, no budget sent
])
def test_issue_11_reasoning_effort_none_by_the_models_thinking_flag(
    client: openai.OpenAI, fake_gemini: FakeGemini, model: str, sent: dict[str, Any] | None
) -> None:
    reply = client.chat.completions.create(model=model, messages=[user("Quick one")], reasoning_effort="none")
    assert reply.choices[0].message.content == "Quick one"
    assert last_body(fake_gemini).get("generationConfig", {}).get("thinkingConfig") == (
        sent["thinkingConfig"] if sent else None
    )


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fmt", [
    {"type": "json_object"},
    {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}},
])
def test_issue_11_tools_with_a_json_response_refused_on_gemini_2_passed_on_gemini_3(
    client: openai.OpenAI, fake_gemini: FakeGemini, fmt: dict[str, Any], stream: bool
) -> None:
    before = len(fake_gemini.received)
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model=MODEL, messages=[user("json please")], tools=[WEATHER],
                                       tool_choice="required", response_format=fmt, stream=stream)
    assert (ex.value.status_code, ex.value.param, ex.value.type) == (400, "response_format", "invalid_request_error")
    assert "'tools'" in ex.value.message
    assert len(fake_gemini.received) == before  # refused before anything went upstream
    reply = client.chat.completions.create(model="gemini-3-test", messages=[user("json please #scenario tools")],
                                           tools=[WEATHER], tool_choice="required", response_format=fmt)
    assert reply.choices[0].finish_reason == "tool_calls"
    sent = last_body(fake_gemini)
    assert sent["generationConfig"]["responseMimeType"] == "application/json"
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_history_without_signatures_gets_the_documented_placeholder(
    client: openai.OpenAI, fake_gemini: FakeGemini
) -> None:
    messages = [
        user("Weather in Rome?"),
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_x", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}
        ]},
        {"role": "tool", "tool_call_id": "call_x", "content": "rainy"},
    ]
    reply = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert reply.choices[0].message.content == 'Tool results: get_weather={"result": "rainy"}'
    model_turn = last_body(fake_gemini)["contents"][1]
    assert model_turn == {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}, "thoughtSignature": PLACEHOLDER_SIGNATURE}
    ]}


def test_parallel_results_in_another_order_are_paired_by_id_in_one_turn(
    client: openai.OpenAI, fake_gemini: FakeGemini
) -> None:
    tools = [WEATHER, CLOCK, NEWS]
    messages: list[Any] = [user("Everything please #scenario parallel_tools")]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "city-0"}), ("get_time", {"zone": "zone-1"}), ("get_news", {"topic": "topic-2"}),
    ]
    assert len({c.id for c in calls}) == 3
    results = {"get_weather": "sunny", "get_time": "noon", "get_news": "quiet"}
    messages.append(choice.message.model_dump(exclude_none=True))
    for call in reversed(calls):  # answered in a different order than asked: news, time, weather
        messages.append({"role": "tool", "tool_call_id": call.id, "content": results[call.function.name]})
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=tools)
    assert second.choices[0].message.content == (
        'Tool results: get_weather={"result": "sunny"}; get_time={"result": "noon"}; '
        'get_news={"result": "quiet"}'
    )
    contents = last_body(fake_gemini)["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert [p["functionCall"]["name"] for p in contents[1]["parts"]] == ["get_weather", "get_time", "get_news"]
    assert "thoughtSignature" in contents[1]["parts"][0]
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}},
        {"functionResponse": {"name": "get_time", "response": {"result": "noon"}}},
        {"functionResponse": {"name": "get_news", "response": {"result": "quiet"}}},
    ]


def test_user_text_after_tool_results_joins_their_turn(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    messages = [
        user("Weather?"),
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "snow"},
        user("and thanks"),
    ]
    reply = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert reply.choices[0].message.content == "and thanks"
    assert last_body(fake_gemini)["contents"][1:] == [
        {"role": "model", "parts": [
            {"text": "Let me look."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}, "thoughtSignature": PLACEHOLDER_SIGNATURE},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"result": "snow"}}},
            {"text": "and thanks"},
        ]},
    ]


def test_streamed_parallel_calls_have_indices_and_unique_ids(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    chunks = stream_chunks(
        client, messages=[user("Everything please #scenario parallel_tools")], tools=[WEATHER, CLOCK, NEWS]
    )
    assert last(fake_gemini).path == STREAM_PATH
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = tool_call_deltas(chunks)
    assert [d.index for d in deltas] == [0, 1, 2]
    assert all(d.id and d.id.startswith("call_") and d.type == "function" for d in deltas)
    assert len({d.id for d in deltas}) == 3
    assert [(d.function.name, json.loads(d.function.arguments)) for d in deltas] == [
        ("get_weather", {"city": "city-0"}), ("get_time", {"zone": "zone-1"}), ("get_news", {"topic": "topic-2"}),
    ]
    assert finish_reasons(chunks) == ["tool_calls"]
    assert streamed_text(chunks) == ""


def test_sdk_stream_helper_reassembles_the_calls(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model=MODEL, messages=[user("Everything please #scenario parallel_tools")], tools=[WEATHER, CLOCK, NEWS]
    ) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "city-0"}), ("get_time", {"zone": "zone-1"}), ("get_news", {"topic": "topic-2"}),
    ]
    assert len({c.id for c in calls}) == 3
    assert final.model == MODEL


def test_streamed_calls_carry_the_signature_on_the_first_delta_only(
    client: openai.OpenAI, fake_gemini: FakeGemini
) -> None:
    chunks = stream_chunks(client, messages=[user("All three #scenario parallel_tools")], tools=[WEATHER, CLOCK, NEWS])
    deltas = tool_call_deltas(chunks)
    extras = [(d.model_extra or {}).get("extra_content") for d in deltas]
    assert extras[0]["google"]["thought_signature"] in fake_gemini.issued_signatures
    assert extras[1:] == [None, None]


def test_streamed_tool_loop_through_the_sdk_helper(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    messages: list[Any] = [user("Weather in Lima? #scenario tools")]
    with client.chat.completions.stream(model=MODEL, messages=messages, tools=[WEATHER]) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    call = (message.tool_calls or [])[0]
    messages += [message.model_dump(exclude_none=True, exclude={"parsed"}),
                 {"role": "tool", "tool_call_id": call.id, "content": "warm"}]
    with client.chat.completions.stream(model=MODEL, messages=messages, tools=[WEATHER]) as stream:
        second = stream.get_final_completion()
    assert second.choices[0].message.content == 'Tool results: get_weather={"result": "warm"}'
    assert second.choices[0].finish_reason == "stop"
    model_turn = last_body(fake_gemini)["contents"][1]
    assert model_turn["parts"][0]["functionCall"] == {"name": "get_weather", "args": {"city": "city-0"}}
    signature = (call.model_extra or {})["extra_content"]["google"]["thought_signature"]
    assert signature in fake_gemini.issued_signatures  # reassembled by the SDK from the stream
    assert model_turn["parts"][0]["thoughtSignature"] == signature  # and echoed back to Gemini


@pytest.mark.parametrize("stream", [False, True])
def test_n_2_tool_calls_get_ids_unique_across_choices(client: openai.OpenAI, stream: bool) -> None:
    kw: dict[str, Any] = {"messages": [user("x #scenario parallel_tools")], "tools": [WEATHER, CLOCK, NEWS], "n": 2}
    if stream:
        chunks = stream_chunks(client, **kw)
        by_choice = {
            i: [tc for c in chunks if c.choices and c.choices[0].index == i for tc in (c.choices[0].delta.tool_calls or [])]
            for i in (0, 1)
        }
        assert [[d.index for d in by_choice[i]] for i in (0, 1)] == [[0, 1, 2], [0, 1, 2]]
        assert [finish_reasons(chunks, i) for i in (0, 1)] == [["tool_calls"], ["tool_calls"]]
        ids = [d.id for i in (0, 1) for d in by_choice[i]]
    else:
        reply = client.chat.completions.create(model=MODEL, **kw)
        assert [c.index for c in reply.choices] == [0, 1]
        assert [c.finish_reason for c in reply.choices] == ["tool_calls", "tool_calls"]
        ids = [tc.id for c in reply.choices for tc in (c.message.tool_calls or [])]
    assert len(ids) == 6 and len(set(ids)) == 6


def test_tool_results_that_are_not_json_objects_are_wrapped(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    messages = [
        user("lists"),
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "A"}'}},
            {"id": "b", "type": "function", "function": {"name": "get_time", "arguments": '{"zone": "B"}'}},
        ]},
        {"role": "tool", "tool_call_id": "b", "content": '"quoted"'},
        {"role": "tool", "tool_call_id": "a", "content": "[1, 2]"},
    ]
    client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, CLOCK])
    assert last_body(fake_gemini)["contents"][2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"result": "[1, 2]"}}},
        {"functionResponse": {"name": "get_time", "response": {"result": '"quoted"'}}},
    ]


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("none", {"mode": "NONE"}),
        ("auto", {"mode": "AUTO"}),
        ("required", {"mode": "ANY"}),
        ({"type": "function", "function": {"name": "get_time"}}, {"mode": "ANY", "allowedFunctionNames": ["get_time"]}),
    ],
    ids=["none", "auto", "required", "named"],
)
def test_tool_choice_becomes_a_function_calling_mode(
    client: openai.OpenAI, fake_gemini: FakeGemini, choice: Any, config: dict[str, Any]
) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=[user("which tool")], tools=[WEATHER, CLOCK], tool_choice=choice
    )
    assert reply.choices[0].message.content == "which tool"
    sent = last_body(fake_gemini)
    assert sent["toolConfig"] == {"functionCallingConfig": config}
    assert [d["name"] for d in sent["tools"][0]["functionDeclarations"]] == ["get_weather", "get_time"]


def test_tool_choice_none_without_tools_sends_nothing(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    client.chat.completions.create(model=MODEL, messages=[user("no tools")], tool_choice="none")
    assert set(last_body(fake_gemini)) == {"contents"}


# ---------------------------------------------------------------- tool schemas (PITFALLS 14)


def test_json_schema_features_are_converted_to_what_gemini_accepts(
    client: openai.OpenAI, fake_gemini: FakeGemini
) -> None:
    parameters = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "$defs": {"Unit": {"type": "string", "enum": ["c", "f"], "description": "Unit"}},
        "properties": {
            "city": {"type": "string", "default": "Paris", "description": "City"},
            "unit": {"$ref": "#/$defs/Unit"},
            "days": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}], "default": None},
            "tags": {"type": ["array", "null"], "items": {"type": "string"}},
            "opts": {
                "type": "object",
                "properties": {"x": {"type": "number"}},
                "additionalProperties": {"type": "string"},
            },
        },
        "required": ["city", "unit", "days"],
    }
    tools = [
        {"type": "function", "function": {"name": "forecast", "description": "A forecast", "parameters": parameters}},
        {"type": "function", "function": {"name": "ping"}},
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}},
    ]
    reply = client.chat.completions.create(
        model=MODEL, messages=[user("Forecast #scenario tools")], tools=tools
    )  # 200: the fake refuses unknown schema keys
    assert reply.choices[0].finish_reason == "tool_calls"
    calls = reply.choices[0].message.tool_calls or []
    assert calls[0].function.name == "forecast"
    assert json.loads(calls[0].function.arguments) == {
        "city": "city-0", "unit": "c", "days": 1, "tags": [], "opts": {"x": 1}
    }
    declarations = last_body(fake_gemini)["tools"][0]["functionDeclarations"]
    assert declarations == [
        {
            "name": "forecast",
            "description": "A forecast",
            "parameters": {
                "type": "OBJECT",
                "properties": {
                    "city": {"type": "STRING", "description": "City"},
                    "unit": {"type": "STRING", "enum": ["c", "f"], "description": "Unit"},
                    "days": {"type": "INTEGER", "minimum": 1, "nullable": True},
                    "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "nullable": True},
                    "opts": {"type": "OBJECT", "properties": {"x": {"type": "NUMBER"}}},
                },
                "required": ["city", "unit", "days"],
            },
        },
        {"name": "ping"},
        {"name": "noop"},
    ]


@pytest.mark.parametrize(
    "parameters",
    [
        {"type": "object", "properties": {"x": {"not": {"type": "null"}}}},
        {"type": "object", "properties": {"node": {"$ref": "#"}}},
        {"type": "object", "properties": {"pair": {"type": "array", "prefixItems": [{"type": "string"}]}}},
        {"type": "object", "properties": {"anything": {}}},  # Pydantic `Any`
        {"type": "object", "properties": {"values": {"type": "array", "items": {}}}},  # a bare `list`
        {"type": "object", "properties": {"flag": True}},  # a `true` sub-schema
    ],
    ids=["not", "recursive-ref", "prefixItems", "untyped", "bare-list", "true"],
)
def test_issue_11_a_schema_outside_geminis_subset_is_sent_as_parameters_json_schema(
    client: openai.OpenAI, fake_gemini: FakeGemini, parameters: dict[str, Any]
) -> None:
    tools = [{"type": "function", "function": {"name": "loose", "parameters": parameters}}, WEATHER]
    reply = client.chat.completions.create(model=MODEL, messages=[user("hi #scenario tools")], tools=tools)
    assert reply.choices[0].finish_reason == "tool_calls"
    calls = reply.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "loose"
    loose, weather = last_body(fake_gemini)["tools"][0]["functionDeclarations"]
    assert loose == {"name": "loose", "parametersJsonSchema": parameters}
    assert weather == WEATHER_DECLARATION  # a schema inside the subset still goes as `parameters`


@pytest.mark.parametrize("stream", [False, True])
def test_issue_11_a_response_schema_outside_the_subset_is_sent_as_response_json_schema(
    client: openai.OpenAI, fake_gemini: FakeGemini, stream: bool
) -> None:
    schema = {"type": "object", "properties": {"reply": {}, "extra": True}, "required": ["reply"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}
    if stream:
        text = streamed_text(stream_chunks(client, messages=[user("loose")], response_format=fmt))
    else:
        reply = client.chat.completions.create(model=MODEL, messages=[user("loose")], response_format=fmt)
        text = reply.choices[0].message.content or ""
    assert json.loads(text) == {"reply": "loose"}
    assert last_body(fake_gemini)["generationConfig"] == {
        "responseMimeType": "application/json", "responseJsonSchema": schema,
    }


# ---------------------------------------------------------------- finish reasons


@pytest.mark.parametrize("stream", [False, True])
def test_safety_stop_is_content_filter_with_the_partial_text(client: openai.OpenAI, stream: bool) -> None:
    messages = [user("Tell me something dangerous #scenario safety")]
    if stream:
        chunks = stream_chunks(client, messages=messages)
        assert (streamed_text(chunks), finish_reasons(chunks)) == ("Tell me something", ["content_filter"])
    else:
        choice = client.chat.completions.create(model=MODEL, messages=messages).choices[0]
        assert (choice.message.content, choice.finish_reason) == ("Tell me something", "content_filter")


@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_stop_is_length(client: openai.OpenAI, fake_gemini: FakeGemini, stream: bool) -> None:
    messages = [user("alpha beta gamma delta epsilon")]
    if stream:
        chunks = stream_chunks(client, messages=messages, max_tokens=2)
        content, reasons = streamed_text(chunks), finish_reasons(chunks)
    else:
        choice = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=2).choices[0]
        content, reasons = choice.message.content, [choice.finish_reason]
    assert last_body(fake_gemini)["generationConfig"] == {"maxOutputTokens": 2}
    assert (content, reasons) == ("alpha beta", ["length"])


def test_max_tokens_scenario_is_length(client: openai.OpenAI) -> None:
    choice = client.chat.completions.create(
        model=MODEL, messages=[user("#scenario max_tokens one two three four")]
    ).choices[0]
    assert (choice.message.content, choice.finish_reason) == ("#scenario max_tokens one two", "length")


@pytest.mark.parametrize("stream", [False, True])
def test_blocked_prompt_is_a_clear_400(client: openai.OpenAI, stack: Stack, stream: bool) -> None:
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(
            model=MODEL, messages=[user("something awful #scenario blocked_prompt")], stream=stream
        )
    assert ex.value.status_code == 400
    assert ex.value.code == "content_filter"
    assert "blocked the prompt" in ex.value.message and "SAFETY" in ex.value.message
    event = stack.usage_for(ex.value.response.headers["x-request-id"])
    assert event.status == "error" and event.error_code == "content_filter"
    # billed as Google reported it (the prompt it read: 4 words), not estimated
    assert (event.prompt_tokens, event.completion_tokens, event.estimated) == (4, 0, False)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("scenario", sorted(FAILURE_MESSAGES))
def test_a_failure_finish_without_output_is_a_502_billed_with_googles_usage(
    client: openai.OpenAI, stack: Stack, fake_gemini: FakeGemini, scenario: str, stream: bool
) -> None:
    # issue 11, items 3 and 13: never an empty "stop" success, never an estimated bill
    with pytest.raises(openai.InternalServerError) as ex:
        client.chat.completions.create(
            model=MODEL, messages=[user(f"#scenario {scenario}")], tools=[WEATHER], stream=stream
        )
    assert ex.value.status_code == 502
    assert ex.value.code == "upstream_error"
    assert f"finishReason {scenario.upper()}" in ex.value.message
    assert FAILURE_MESSAGES[scenario] in ex.value.message
    event = stack.usage_for(ex.value.response.headers["x-request-id"])
    prompt = prompt_words(last_body(fake_gemini))
    assert (event.status, event.error_code, event.estimated) == ("error", "upstream_error", False)
    assert (event.prompt_tokens, event.completion_tokens) == (prompt, FAILED_OUTPUT_TOKENS)


# ---------------------------------------------------------------- failures mid-stream


@pytest.mark.parametrize("scenario", ["error_midstream", "cut_midstream"])
def test_failure_mid_stream_raises_after_the_first_chunks(
    client: openai.OpenAI, stack: Stack, fake_gemini: FakeGemini, scenario: str
) -> None:
    before = len(fake_gemini.received)
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[user(f"#scenario {scenario}")], stream=True, stream_options={"include_usage": True}
    )
    assert raw.http_response.status_code == 200
    received: list[Any] = []
    with pytest.raises(openai.APIError) as ex:
        for chunk in raw.parse():
            received.append(chunk)
    assert not isinstance(ex.value, openai.APIStatusError)  # an error event inside the 200 stream
    assert received and received[0].choices[0].delta.role == "assistant"
    assert streamed_text(received) == "This reply is going to be "  # the two events before the failure
    assert finish_reasons(received) == []
    assert isinstance(ex.value.body, dict) and ex.value.body["type"] == "upstream_error"
    if scenario == "error_midstream":
        assert "INTERNAL" in ex.value.message and "An internal error has occurred" in ex.value.message
    else:
        assert "finishReason" in ex.value.message
    assert len(fake_gemini.received) == before + 1  # no retry once bytes were sent
    event = stack.usage_for(raw.headers["x-request-id"])
    assert (event.status, event.stream) == ("error", True)
    assert (event.prompt_tokens, event.completion_tokens) == (2, 6)  # the last usageMetadata seen


@pytest.mark.parametrize("scenario", ["error_midstream", "cut_midstream"])
def test_failure_of_a_non_stream_request_is_a_502(client: openai.OpenAI, scenario: str) -> None:
    with pytest.raises(openai.InternalServerError) as ex:
        client.chat.completions.create(model=MODEL, messages=[user(f"#scenario {scenario}")])
    assert ex.value.status_code == 502
    if scenario == "error_midstream":
        assert "An internal error has occurred" in ex.value.message


# ---------------------------------------------------------------- upstream errors


@pytest.mark.parametrize("stream", [False, True])
def test_wrong_upstream_key_is_a_502_never_401(client: openai.OpenAI, fake_gemini: FakeGemini, stream: bool) -> None:
    with pytest.raises(openai.APIStatusError) as ex:
        client.chat.completions.create(model="gemini-wrongkey", messages=[user("hi")], stream=stream)
    assert ex.value.status_code == 502
    assert ex.value.code == "upstream_auth_error"
    assert "x-goog-api-key" in last(fake_gemini).headers and "key=" not in last(fake_gemini).path
    assert last(fake_gemini).headers["x-goog-api-key"] == "gemini-not-the-right-one"


@pytest.mark.parametrize("stream", [False, True])
def test_resource_exhausted_is_a_rate_limit_error_with_retry_after(client: openai.OpenAI, stream: bool) -> None:
    with pytest.raises(openai.RateLimitError) as ex:
        client.chat.completions.create(model=MODEL, messages=[user("#scenario rate_limited")], stream=stream)
    assert ex.value.status_code == 429
    assert ex.value.code == "rate_limit_exceeded"
    assert ex.value.response.headers["retry-after"] == "7"  # RetryInfo.retryDelay "7s"
    assert "exceeded your current quota" in ex.value.message


def test_overloaded_is_a_502_with_googles_message(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as ex:
        client.chat.completions.create(model=MODEL, messages=[user("#scenario overloaded")])
    assert ex.value.status_code == 502
    assert "The model is overloaded" in ex.value.message


CALL_BAD_ARGS = [
    user("x"),
    {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{not json"}}
    ]},
    {"role": "tool", "tool_call_id": "c1", "content": "ok"},
]


@pytest.mark.parametrize(
    ("kw", "param"),
    [
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"tools": [WEATHER], "parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"stop": ["ok", ""]}, "stop"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
         "tool_choice.function.name"),
        ({"tools": [fn_tool("get weather")]}, "tools[0].function.name"),
        ({"tools": [WEATHER, WEATHER]}, "tools[1].function.name"),
        ({"messages": CALL_BAD_ARGS, "tools": [WEATHER]}, "messages[1].tool_calls[0].function.arguments"),
        ({"messages": [user("a"), {"role": "tool", "tool_call_id": "zzz", "content": "r"}]},
         "messages[1].tool_call_id"),
        ({"messages": [user([{"type": "file", "file": {"file_id": "file-abc"}}])]},
         "messages[0].content[0].file.file_id"),
        ({"messages": [user("x"), {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "r"}, user("y")], "tools": [WEATHER]},
         "messages[1].tool_calls[1]"),
        ({"messages": [user("x"), {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "r"},
            {"role": "tool", "tool_call_id": "c1", "content": "r"}], "tools": [WEATHER]},
         "messages[3].tool_call_id"),
        ({"messages": [user("x"), {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "r"}], "tools": [WEATHER]},
         "messages[1].tool_calls[1].id"),
    ],
    ids=["logit_bias", "parallel_false", "reasoning_effort", "top_logprobs", "empty_stop", "required_no_tools",
         "named_unknown", "bad_name", "duplicate_name", "bad_arguments", "orphan_tool",
         "file_id", "unanswered_call", "answered_twice", "repeated_call_id"],
)
def test_refused_parameters_are_a_400_naming_them(
    client: openai.OpenAI, fake_gemini: FakeGemini, kw: dict[str, Any], param: str
) -> None:
    before = len(fake_gemini.received)
    kw.setdefault("messages", [user("hi")])
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model=MODEL, **kw)
    assert ex.value.body["type"] == "invalid_request_error"
    assert ex.value.body["param"] == param
    assert len(fake_gemini.received) == before  # refused before anything went upstream


# ---------------------------------------------------------------- empty content (PITFALLS 4)


def test_empty_content_never_becomes_an_empty_part(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    messages = [
        {"role": "system", "content": "   "},
        user(""),
        user([{"type": "text", "text": " "}, {"type": "text", "text": "first question"}]),
        user([]),
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
        ]},
        {"role": "tool", "tool_call_id": "call_a", "content": ""},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
        ]},
        {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "dry"}]},
        {"role": "assistant", "content": "  \n"},
        user("\n\t "),
        user("second question"),
    ]
    reply = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert reply.choices[0].message.content == "second question"
    body = last_body(fake_gemini)
    no_empty_parts(body)
    assert "systemInstruction" not in body
    call = {"name": "get_weather", "args": {}}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "first question"}]},
        {"role": "model", "parts": [{"functionCall": call, "thoughtSignature": PLACEHOLDER_SIGNATURE}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": ""}}}]},
        {"role": "model", "parts": [{"functionCall": call, "thoughtSignature": PLACEHOLDER_SIGNATURE}]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"result": "dry"}}},
            {"text": "second question"},
        ]},
    ]


def test_a_request_with_only_empty_content_is_refused(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    before = len(fake_gemini.received)
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "system", "content": " "}, user(""), user([{"type": "text", "text": "  "}])]
        )
    assert ex.value.body["param"] == "messages"
    assert len(fake_gemini.received) == before


# ---------------------------------------------------------------- system prompts (PITFALLS 5)


def test_system_and_developer_messages_anywhere_go_to_system_instruction(
    client: openai.OpenAI, fake_gemini: FakeGemini
) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": "Answer in French."},
        user("hello"),
        {"role": "assistant", "content": "bonjour"},
        {"role": "system", "content": [{"type": "text", "text": "Now be formal."}]},
        user("how are"),
        {"role": "developer", "content": "Sign your name."},
        user("you"),
    ]
    reply = client.chat.completions.create(model=MODEL, messages=messages)
    assert reply.choices[0].message.content == "how areyou"  # the fake joins the last turn's texts
    body = last_body(fake_gemini)
    assert body["systemInstruction"] == {
        "parts": [{"text": "You are terse."}, {"text": "Answer in French."}, {"text": "Now be formal."},
                  {"text": "Sign your name."}]
    }
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "hello"}]},
        {"role": "model", "parts": [{"text": "bonjour"}]},
        {"role": "user", "parts": [{"text": "how are"}, {"text": "you"}]},  # merged around the system message
    ]
    # prompt tokens count the system instruction too: 3 + 3 + 3 + 3 words of system, 1 + 1 + 2 + 1 of turns
    assert reply.usage is not None and reply.usage.prompt_tokens == 17


def test_system_only_request_sends_the_text_as_the_user_turn(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "Say hi."}, {"role": "developer", "content": "Be brief."}],
    )
    assert reply.choices[0].message.content == "Say hi.Be brief."
    assert last_body(fake_gemini) == {"contents": [{"role": "user", "parts": [{"text": "Say hi."}, {"text": "Be brief."}]}]}


def test_consecutive_assistant_messages_merge_into_one_model_turn(
    client: openai.OpenAI, fake_gemini: FakeGemini
) -> None:
    messages = [user("a"), {"role": "assistant", "content": "b"}, {"role": "assistant", "content": "c"}, user("d")]
    client.chat.completions.create(model=MODEL, messages=messages)
    assert last_body(fake_gemini)["contents"] == [
        {"role": "user", "parts": [{"text": "a"}]},
        {"role": "model", "parts": [{"text": "b"}, {"text": "c"}]},
        {"role": "user", "parts": [{"text": "d"}]},
    ]


# ---------------------------------------------------------------- images (PITFALLS 17)


def test_data_url_image_reaches_gemini_as_inline_data(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}", "detail": "low"}}]
    reply = client.chat.completions.create(model=MODEL, messages=[user(content)])
    assert reply.choices[0].message.content == "What is this?"
    assert last_body(fake_gemini)["contents"] == [
        {"role": "user", "parts": [{"text": "What is this?"}, {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}]}
    ]


def test_files_api_uri_becomes_file_data(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    uri = "https://generativelanguage.googleapis.com/v1beta/files/abc123"
    content = [{"type": "text", "text": "Describe"}, {"type": "image_url", "image_url": {"url": uri}}]
    client.chat.completions.create(model=MODEL, messages=[user(content)])
    parts = last_body(fake_gemini)["contents"][0]["parts"]
    assert parts[0] == {"text": "Describe"}
    assert parts[1]["fileData"]["fileUri"] == uri


def test_other_https_image_url_is_refused_naming_it(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    before = len(fake_gemini.received)
    content = [{"type": "text", "text": "Describe"},
               {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model=MODEL, messages=[user(content)])
    assert ex.value.body["param"] == "messages[0].content[1].image_url.url"
    assert "data URL" in ex.value.message
    assert len(fake_gemini.received) == before


def test_audio_and_pdf_data_reach_gemini_as_inline_data(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    wav, pdf = base64.b64encode(b"RIFF....WAVE").decode(), base64.b64encode(b"%PDF-1.4").decode()
    content = [
        {"type": "text", "text": "Listen and read"},
        {"type": "input_audio", "input_audio": {"data": wav, "format": "wav"}},
        {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{pdf}", "filename": "a.pdf"}},
    ]
    client.chat.completions.create(model=MODEL, messages=[user(content)])
    assert last_body(fake_gemini)["contents"][0]["parts"] == [
        {"text": "Listen and read"},
        {"inlineData": {"mimeType": "audio/wav", "data": wav}},
        {"inlineData": {"mimeType": "application/pdf", "data": pdf}},
    ]


def test_malformed_data_url_is_refused(client: openai.OpenAI) -> None:
    content = [{"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGVsbG8="}}]
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model=MODEL, messages=[user(content)])
    assert ex.value.body["param"] == "messages[0].content[0].image_url.url"


# ---------------------------------------------------------------- embeddings


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def test_embeddings_of_a_list_in_base64_decode_to_the_vectors_in_order(
    client: openai.OpenAI, fake_gemini: FakeGemini
) -> None:
    texts = ["alpha", "beta gamma", "delta epsilon zeta"]
    before = len(fake_gemini.received)
    raw = client.embeddings.with_raw_response.create(model=EMBED_MODEL, input=texts)  # SDK asks for base64
    assert len(fake_gemini.received) == before + 1  # one batchEmbedContents for the whole list
    received = last(fake_gemini)
    assert received.path == EMBED_PATH and "key=" not in received.path
    assert received.headers["x-goog-api-key"] == FAKE_GEMINI_KEY
    assert received.json() == {"requests": [
        {"model": "models/gemini-upstream-embedding", "content": {"parts": [{"text": t}]}} for t in texts
    ]}
    wire = raw.http_response.json()
    assert all(isinstance(item["embedding"], str) for item in wire["data"])  # base64 on the wire
    first = wire["data"][0]["embedding"]
    floats = struct.unpack(f"<{len(base64.b64decode(first)) // 4}f", base64.b64decode(first))
    assert list(floats) == pytest.approx(fake_vector("alpha", 768), abs=1e-6)
    reply = raw.parse()
    assert reply.model == EMBED_MODEL
    assert [d.index for d in reply.data] == [0, 1, 2]
    for item, text in zip(reply.data, texts):
        assert item.embedding == pytest.approx(fake_vector(text, 768), abs=1e-6)


def test_embeddings_float_output(client: openai.OpenAI) -> None:
    raw = client.embeddings.with_raw_response.create(
        model=EMBED_MODEL, input=["one", "two"], encoding_format="float"
    )
    wire = raw.http_response.json()
    assert wire["object"] == "list" and [d["object"] for d in wire["data"]] == ["embedding", "embedding"]
    assert wire["data"][1]["embedding"] == pytest.approx(fake_vector("two", 768), abs=1e-12)
    assert wire["data"][0]["embedding"] == pytest.approx(fake_vector("one", 768), abs=1e-12)


def test_embeddings_dimensions_become_output_dimensionality(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    reply = client.embeddings.create(model=EMBED_MODEL, input=["short", "vectors"], dimensions=16)
    requests = last_body(fake_gemini)["requests"]
    assert [r["outputDimensionality"] for r in requests] == [16, 16]
    for item, text in zip(reply.data, ["short", "vectors"]):
        assert len(item.embedding) == 16
        assert item.embedding == pytest.approx(unit(fake_vector(text, 768)[:16]), abs=1e-6)
        assert math.isclose(sum(x * x for x in item.embedding), 1.0, rel_tol=1e-5)


def test_embeddings_usage_is_estimated_when_google_gives_none(client: openai.OpenAI, stack: Stack) -> None:
    texts = ["a fairly long sentence to embed", "xyz"]  # 31 and 3 characters -> 8 + 1 tokens
    raw = client.embeddings.with_raw_response.create(model=EMBED_MODEL, input=texts)
    reply = raw.parse()
    assert (reply.usage.prompt_tokens, reply.usage.total_tokens) == (9, 9)
    event = stack.usage_for(raw.headers["x-request-id"])
    assert (event.op, event.model, event.provider) == ("embed", EMBED_MODEL, "gemini")
    assert (event.prompt_tokens, event.completion_tokens, event.estimated, event.status) == (9, 0, True, "ok")


def test_embeddings_usage_reported_by_google_is_not_estimated(
    client: openai.OpenAI, stack: Stack, fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_gemini, "embed_usage", True)
    texts = ["a fairly long sentence to embed", "xyz"]
    raw = client.embeddings.with_raw_response.create(model=EMBED_MODEL, input=texts)
    assert raw.parse().usage.prompt_tokens == words(texts[0]) + words(texts[1]) == 7
    event = stack.usage_for(raw.headers["x-request-id"])
    assert (event.prompt_tokens, event.estimated) == (7, False)


def test_embeddings_of_token_arrays_are_refused(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    before = len(fake_gemini.received)
    with pytest.raises(openai.BadRequestError) as ex:
        client.embeddings.create(model=EMBED_MODEL, input=[[1, 2, 3]])
    assert ex.value.body["param"] == "input"
    assert len(fake_gemini.received) == before


def test_embeddings_rate_limited_passes_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as ex:
        client.embeddings.create(model=EMBED_MODEL, input=["fine", "#scenario rate_limited"])
    assert ex.value.response.headers["retry-after"] == "7"


def test_embedding_of_one_string(client: openai.OpenAI, fake_gemini: FakeGemini) -> None:
    reply = client.embeddings.create(model=EMBED_MODEL, input="just one", encoding_format="float")
    assert len(last_body(fake_gemini)["requests"]) == 1
    assert [d.index for d in reply.data] == [0]
    assert reply.data[0].embedding == pytest.approx(fake_vector("just one", 768), abs=1e-12)


def test_embeddings_over_the_batch_limit_are_split_and_kept_in_order(
    client: openai.OpenAI, fake_gemini: FakeGemini
) -> None:
    before = len(fake_gemini.received)
    texts = [f"t{k}" for k in range(250)]
    reply = client.embeddings.create(model=EMBED_MODEL, input=texts, encoding_format="float")
    batches = [r.json()["requests"] for r in fake_gemini.received[before:]]
    assert sorted(len(b) for b in batches) == [50, 100, 100]  # Gemini takes 100 a call
    assert [d.index for d in reply.data] == list(range(250))
    assert reply.data[137].embedding == pytest.approx(fake_vector("t137", 768), abs=1e-12)
    assert reply.data[249].embedding == pytest.approx(fake_vector("t249", 768), abs=1e-12)