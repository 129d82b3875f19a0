"""Chat completions end to end with the official SDK: echo and an OpenAI upstream."""

from __future__ import annotations

import json

import openai
import pytest

from tests.e2e.streams import finish_reasons
from tests.fakes.openai import PROMPT_TOKENS, FakeOpenAI
from tests.harness.stack import Stack


def test_echo_answers_with_the_last_user_message(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="echo",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there world"}],
    )
    assert reply.choices[0].message.content == "hello there world"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "echo"
    assert reply.usage is not None and reply.usage.completion_tokens == 3
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 3


def test_openai_upstream_gets_its_model_id_and_caller_sees_ours(
    client: openai.OpenAI, fake_openai: FakeOpenAI
) -> None:
    reply = client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "ping"}], temperature=0.5, seed=7,
        extra_body={"service_tier": "flex"},
    )
    sent = fake_openai.requests_to("/chat/completions")[-1].json()
    assert sent["model"] == "gpt-upstream"
    assert sent["temperature"] == 0.5 and sent["seed"] == 7
    assert sent["service_tier"] == "flex"  # parameters we do not model are forwarded
    assert reply.model == "gpt-test"
    assert reply.choices[0].message.content == "fake: ping"
    assert reply.usage is not None and reply.usage.prompt_tokens == PROMPT_TOKENS
    assert reply.usage.prompt_tokens_details is not None and reply.usage.prompt_tokens_details.cached_tokens == 3


def test_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "one two three"}], stream=True
    ))
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "fake: one two three"
    assert [c.choices[0].finish_reason for c in chunks].count("stop") == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.model for c in chunks} == {"gpt-test"}
    # the upstream is always asked for usage, so the stream can be billed
    sent = fake_openai.requests_to("/chat/completions")[-1].json()
    assert sent["stream_options"] == {"include_usage": True}


def test_stream_with_include_usage_ends_with_a_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "one two"}], stream=True,
        stream_options={"include_usage": True},
    ))
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (PROMPT_TOKENS, 3)
    assert last.usage.total_tokens == PROMPT_TOKENS + 3
    assert sum(1 for c in chunks if c.usage is not None) == 1


def test_echo_stream_word_by_word_with_usage(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "a b c d"}], stream=True,
        stream_options={"include_usage": True},
    ))
    contents = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert contents == ["a ", "b ", "c ", "d"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


def test_echo_n_and_max_tokens(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "a b c d"}], n=2, max_tokens=2
    )
    assert [c.index for c in reply.choices] == [0, 1]
    assert all(c.message.content == "a b " and c.finish_reason == "length" for c in reply.choices)


ECHO_WEATHER = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city", "days"]}}}]


def test_echo_calls_a_tool_when_one_is_required_and_echoes_its_result(client: openai.OpenAI) -> None:
    messages: list = [{"role": "user", "content": "Paris"}]
    first = client.chat.completions.create(model="echo", messages=messages, tools=ECHO_WEATHER, tool_choice="required")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id.startswith("call_") and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 1}
    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}]
    second = client.chat.completions.create(model="echo", messages=messages, tools=ECHO_WEATHER, tool_choice="required")
    assert second.choices[0].message.content == "sunny, 21 C"
    assert second.choices[0].finish_reason == "stop"
    auto = client.chat.completions.create(model="echo", messages=messages[:1], tools=ECHO_WEATHER, tool_choice="auto")
    assert auto.choices[0].message.content == "Paris" and auto.choices[0].message.tool_calls is None


def test_echo_streams_a_named_tool_call_as_openai_does(client: openai.OpenAI) -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    chunks = list(client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "Paris"}], tools=ECHO_WEATHER, tool_choice=named,
        stream=True,
    ))
    deltas = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    head, rest = deltas[0], deltas[1:]
    assert head.index == 0 and head.id is not None and head.id.startswith("call_") and head.type == "function"
    assert head.function is not None and (head.function.name, head.function.arguments) == ("get_weather", "")
    assert rest and all(d.index == 0 and d.id is None and d.function is not None and d.function.name is None for d in rest)
    assert json.loads("".join(d.function.arguments or "" for d in rest if d.function)) == {"city": "Paris", "days": 1}
    assert finish_reasons(chunks) == ["tool_calls"]
    with client.chat.completions.stream(
        model="echo", messages=[{"role": "user", "content": "Paris"}], tools=ECHO_WEATHER, tool_choice=named,
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].finish_reason == "tool_calls"
    [call] = final.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris", "days": 1}


def test_echo_tool_call_parses_as_a_strict_tool_in_the_sdk(client: openai.OpenAI) -> None:
    strict = [{"type": "function", "function": {"name": "lookup", "strict": True, "parameters": {
        "type": "object", "additionalProperties": False, "required": ["city", "days", "metric"],
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "metric": {"type": "boolean"}}}}}]
    reply = client.chat.completions.parse(
        model="echo", messages=[{"role": "user", "content": "Oslo"}], tools=strict, tool_choice="required",
    )
    [call] = reply.choices[0].message.tool_calls or []
    assert call.function.parsed_arguments == {"city": "Oslo", "days": 0, "metric": False}


def test_tool_call_round_trip(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    messages: list = [{"role": "user", "content": "#scenario tools"}]
    first = client.chat.completions.create(model="gpt-test", messages=messages, tools=tools, tool_choice="auto")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == ("call_fake_1", "get_weather", '{"city": "Paris"}')
    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}]
    second = client.chat.completions.create(model="gpt-test", messages=messages, tools=tools)
    assert second.choices[0].message.content == "The weather is sunny, 21C"
    sent = fake_openai.requests_to("/chat/completions")[-1].json()
    assert sent["messages"][1]["tool_calls"][0]["id"] == "call_fake_1"
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "call_fake_1", "content": "sunny, 21C"}
    assert sent["tools"][0]["function"]["name"] == "get_weather"


def test_streamed_tool_call_reassembles_like_the_non_stream_one(client: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    with client.chat.completions.stream(
        model="gpt-test", messages=[{"role": "user", "content": "#scenario tools"}], tools=tools
    ) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == ("call_fake_1", "get_weather", '{"city": "Paris"}')
    assert final.choices[0].finish_reason == "tool_calls"


def test_usage_events_are_published_with_the_request_id(client: openai.OpenAI, stack: Stack) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "bill me"}]
    )
    request_id = raw.headers["x-request-id"]
    event = stack.usage_for(request_id)
    assert (event.model, event.provider, event.upstream_model) == ("gpt-test", "fakeoai", "gpt-upstream")
    assert (event.prompt_tokens, event.completion_tokens, event.cached_tokens) == (PROMPT_TOKENS, 3, 3)
    assert event.status == "ok" and event.stream is False and event.op == "chat"
    assert event.key_name == "e2e-all"


def test_streamed_usage_is_billed_even_without_include_usage(client: openai.OpenAI, stack: Stack) -> None:
    stream = client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "bill my stream"}], stream=True
    )
    request_id = stream.headers["x-request-id"]
    list(stream.parse())
    event = stack.usage_for(request_id)
    assert (event.prompt_tokens, event.completion_tokens, event.stream) == (PROMPT_TOKENS, 4, True)


@pytest.mark.parametrize("model", ["echo", "gpt-test", "claude-test", "gemini-test"])
def test_every_chunk_of_a_stream_carries_one_id_and_each_response_a_fresh_one(
    client: openai.OpenAI, model: str
) -> None:
    ids = []
    for _ in range(2):
        chunks = list(client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "one two three"}], stream=True,
            stream_options={"include_usage": True}, n=2,
        ))
        assert chunks[-1].choices == [] and chunks[-1].usage is not None  # the usage chunk too
        assert len(chunks) > 3 and {c.id for c in chunks} == {chunks[0].id}, [c.id for c in chunks]
        assert chunks[0].id.startswith("chatcmpl-")
        ids.append(chunks[0].id)
    whole = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "one"}])
    assert len({*ids, whole.id}) == 3, ids + [whole.id]
