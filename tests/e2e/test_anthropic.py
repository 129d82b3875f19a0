"""Claude through the OpenAI API, end to end: the official SDK -> gateway -> NATS -> worker
(anthropic provider) -> the fake Anthropic server, and back.

Each test asserts what the caller sees (content, finish_reason, usage, errors) and what
reached the upstream (`fake_anthropic.requests_to("/v1/messages")`). The fake rejects what
the real Messages API rejects (empty text blocks, non-alternating roles, bad headers...),
so a 200 is itself proof the request was well formed. Usage numbers are recomputed from
the body the fake received with the fake's own counting rule (about 4 characters a token).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import FAKE_ANTHROPIC_KEY
from tests.e2e.streams import finish_reasons, streamed_text
from tests.fakes.anthropic import THINKING_TEXT, FakeAnthropic, sign_thinking
from tests.harness.procs import SLACK_S
from tests.harness.stack import Stack

MODEL = "claude-test"
UPSTREAM_MODEL = "claude-upstream-1"
DEFAULT_MAX_TOKENS = 4096  # the model entry's max_output_tokens

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time", "description": "The current time"}}
TOOLS = [WEATHER, CLOCK]
WEATHER_SPEC = {
    "name": "get_weather",
    "description": "Weather of a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CLOCK_SPEC = {"name": "get_time", "description": "The current time", "input_schema": {"type": "object", "properties": {}}}
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


# ---------------------------------------------------------------- helpers


def sent_requests(fake: FakeAnthropic) -> list[Any]:
    return fake.requests_to("/v1/messages")


def last_sent(fake: FakeAnthropic) -> dict[str, Any]:
    """The body of the last request that reached the fake upstream."""
    return sent_requests(fake)[-1].json()


def tokens(text: str) -> int:
    """The fake's token count of a text."""
    return max(1, (len(text) + 3) // 4)


def input_tokens(sent: dict[str, Any]) -> int:
    """The fake's `input_tokens` for a request body it received."""
    return tokens(json.dumps(sent.get("system", "")) + json.dumps(sent["messages"]))


def output_tokens(blocks: list[dict[str, Any]]) -> int:
    """The fake's `output_tokens` for the content blocks it answered."""
    return sum(tokens(json.dumps(block)) for block in blocks)


def text(value: str) -> dict[str, str]:
    return {"type": "text", "text": value}


def thinking_block() -> dict[str, str]:
    return {"type": "thinking", "thinking": THINKING_TEXT, "signature": sign_thinking(THINKING_TEXT)}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def text_blocks(body: Any) -> list[dict[str, Any]]:
    """Every text block anywhere in a request body (system, turns, tool results)."""
    found: list[dict[str, Any]] = []
    if isinstance(body, dict):
        if body.get("type") == "text":
            found.append(body)
        for value in body.values():
            found += text_blocks(value)
    elif isinstance(body, list):
        for item in body:
            found += text_blocks(item)
    return found


def stream_chunks(client: openai.OpenAI, **kw: Any) -> list[Any]:
    return list(client.chat.completions.create(model=MODEL, stream=True, **kw))




def reasoning_of(obj: Any) -> str | None:
    """`reasoning_content` of a message or delta (an extra field for the SDK)."""
    return (obj.model_extra or {}).get("reasoning_content")


def tool_loop_history(content: Any, tool_content: Any) -> list[dict[str, Any]]:
    """A finished tool call in history, with `content` on the assistant and `tool_content`
    on the tool message."""
    return [
        user("What's the weather in Paris?"),
        {
            "role": "assistant",
            "content": content,
            "tool_calls": [{"id": "toolu_01hist", "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}],
        },
        {"role": "tool", "tool_call_id": "toolu_01hist", "content": tool_content},
    ]


# ---------------------------------------------------------------- plain completions


def test_plain_completion_reaches_claude_and_comes_back_openai_shaped(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic
) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=[user("Hello Claude")])
    received = sent_requests(fake_anthropic)[-1]
    sent = received.json()
    assert received.headers["x-api-key"] == FAKE_ANTHROPIC_KEY
    assert received.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in received.headers
    assert sent == {
        "model": UPSTREAM_MODEL,
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": [text("Hello Claude")]}],
    }
    choice = reply.choices[0]
    assert (choice.index, choice.message.role, choice.message.content) == (0, "assistant", "Hello Claude")
    assert choice.finish_reason == "stop"
    assert choice.message.tool_calls is None
    assert reply.model == MODEL
    assert reply.object == "chat.completion"
    assert reply.id.startswith("chatcmpl-") and reply.created > 1_600_000_000
    prompt = input_tokens(sent)
    completion = output_tokens([text("Hello Claude")])
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (
        prompt, completion, prompt + completion)
    assert reply.usage.prompt_tokens_details is not None and reply.usage.prompt_tokens_details.cached_tokens == 0


def test_plain_stream_role_first_content_deltas_one_finish(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic
) -> None:
    chunks = stream_chunks(client, messages=[user("Streaming is fun for everyone")])
    sent = last_sent(fake_anthropic)
    assert sent["stream"] is True
    assert sent["model"] == UPSTREAM_MODEL and sent["max_tokens"] == DEFAULT_MAX_TOKENS
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices and len(c.choices) == 1 and c.choices[0].index == 0 for c in chunks)
    assert streamed_text(chunks) == "Streaming is fun for everyone"
    assert len([c for c in chunks if c.choices[0].delta.content]) >= 3  # really streamed in pieces
    assert finish_reasons(chunks) == ["stop"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {c.model for c in chunks} == {MODEL}
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert len({c.created for c in chunks}) == 1 and chunks[0].created > 1_600_000_000
    assert all(c.usage is None for c in chunks)


def test_sampling_parameters_map_to_anthropic_fields(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=[user("params")], temperature=0.3, top_p=0.9, stop=["END", "STOP"],
        user="end-user-42", max_tokens=300, metadata={"trace": "x"}, store=False,
        presence_penalty=0, frequency_penalty=None, logprobs=False, seed=None, logit_bias={},
    )
    assert reply.choices[0].message.content == "params"
    sent = last_sent(fake_anthropic)
    assert sent == {
        "model": UPSTREAM_MODEL,
        "max_tokens": 300,
        "messages": [{"role": "user", "content": [text("params")]}],
        "temperature": 0.3,  # top_p is not sent beside it (issue 11 item 4)
        "stop_sequences": ["END", "STOP"],
        "metadata": {"user_id": "end-user-42"},
    }


def test_a_long_user_id_reaches_claude_as_a_stable_hash(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    # Issue 11 item 6: the fake, like Anthropic, refuses a user_id over 256 characters.
    long_id = "end-user/" + "x" * 300
    expected = "sha256:" + hashlib.sha256(long_id.encode()).hexdigest()
    for _ in range(2):
        reply = client.chat.completions.create(model=MODEL, messages=[user("who")], user=long_id)
        assert reply.choices[0].message.content == "who"
        assert last_sent(fake_anthropic)["metadata"] == {"user_id": expected}
    client.chat.completions.create(model=MODEL, messages=[user("who")], user="u-1",
                                   extra_body={"safety_identifier": "sid-9"})
    assert last_sent(fake_anthropic)["metadata"] == {"user_id": "sid-9"}  # the newer field wins


def test_max_completion_tokens_wins_over_max_tokens(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    client.chat.completions.create(model=MODEL, messages=[user("alias")], max_completion_tokens=77)
    assert last_sent(fake_anthropic)["max_tokens"] == 77
    client.chat.completions.create(model=MODEL, messages=[user("alias")], max_completion_tokens=55, max_tokens=99)
    assert last_sent(fake_anthropic)["max_tokens"] == 55


def test_a_single_stop_string_becomes_a_list(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    client.chat.completions.create(model=MODEL, messages=[user("stop")], stop="END")
    assert last_sent(fake_anthropic)["stop_sequences"] == ["END"]


# ---------------------------------------------------------------- usage


def test_include_usage_gives_exactly_one_final_usage_chunk_with_cache_tokens(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic
) -> None:
    chunks = stream_chunks(
        client, messages=[user("Say hi\n#scenario cached")], stream_options={"include_usage": True}
    )
    sent = last_sent(fake_anthropic)
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1]
    last = chunks[-1]
    assert last.choices == []
    assert last.model == MODEL and last.id == chunks[0].id
    assert all(c.choices for c in chunks[:-1])
    prompt = input_tokens(sent) + 200 + 1000  # input + cache writes + cache reads
    completion = output_tokens([text("Say hi")])
    usage = last.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (prompt, completion, prompt + completion)
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 1000
    assert streamed_text(chunks) == "Say hi"


def test_non_stream_cache_tokens_are_in_prompt_tokens_once(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=[user("Say hi\n#scenario cached")])
    sent = last_sent(fake_anthropic)
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == input_tokens(sent) + 200 + 1000
    assert reply.usage.prompt_tokens_details is not None
    assert reply.usage.prompt_tokens_details.cached_tokens == 1000 <= reply.usage.prompt_tokens
    assert reply.usage.prompt_tokens_details.cache_write_tokens == 200


def test_stream_without_include_usage_has_no_usage_chunk_but_is_billed(
    client: openai.OpenAI, stack: Stack, fake_anthropic: FakeAnthropic
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[user("Bill this stream\n#scenario cached")], stream=True
    )
    request_id = raw.headers["x-request-id"]
    chunks = list(raw.parse())
    sent = last_sent(fake_anthropic)
    assert chunks and all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    assert streamed_text(chunks) == "Bill this stream"
    event = stack.usage_for(request_id)
    prompt = input_tokens(sent) + 1200
    completion = output_tokens([text("Bill this stream")])
    assert (event.model, event.provider, event.upstream_model) == (MODEL, "claude", UPSTREAM_MODEL)
    assert (event.prompt_tokens, event.completion_tokens, event.total_tokens) == (prompt, completion, prompt + completion)
    assert (event.cached_tokens, event.cache_write_tokens) == (1000, 200)
    assert (event.status, event.stream, event.op) == ("ok", True, "chat")


@pytest.mark.parametrize(
    ("content", "extra"),
    [
        ("Same bill either way", {}),
        ("Same bill, cached\n#scenario cached", {}),
        ("Same bill with tools\n#scenario parallel_tools", {"tools": TOOLS}),
        ("Same bill thinking\n#scenario thinking", {}),
    ],
    ids=["text", "cached", "parallel_tools", "thinking"],
)
def test_streamed_and_non_streamed_requests_are_billed_the_same(
    client: openai.OpenAI, stack: Stack, content: str, extra: dict[str, Any]
) -> None:
    messages = [{"role": "system", "content": "Be brief."}, user(content)]
    whole = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages, **extra)
    told = whole.parse().usage
    assert told is not None
    streamed = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages, stream=True, **extra)
    list(streamed.parse())
    a = stack.usage_for(whole.headers["x-request-id"])
    b = stack.usage_for(streamed.headers["x-request-id"])
    assert (a.stream, b.stream) == (False, True)
    assert (a.prompt_tokens, a.completion_tokens) == (told.prompt_tokens, told.completion_tokens)  # as the client was told
    assert a.completion_tokens >= 1
    assert (a.prompt_tokens, a.completion_tokens, a.total_tokens, a.cached_tokens, a.cache_write_tokens) == (
        b.prompt_tokens, b.completion_tokens, b.total_tokens, b.cached_tokens, b.cache_write_tokens)
    assert (a.status, b.status) == ("ok", "ok")


# ---------------------------------------------------------------- tools


def test_openai_sdk_tool_loop_runs_end_to_end(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    messages: list[Any] = [user("What's the weather in Paris?\n#scenario tools")]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    sent = last_sent(fake_anthropic)
    assert sent["tools"] == [WEATHER_SPEC]
    assert "tool_choice" not in sent
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.id.startswith("toolu_fake") and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    block = {"type": "tool_use", "id": call.id, "name": "get_weather", "input": {"city": "Paris"}}
    assert first.usage is not None and first.usage.completion_tokens == output_tokens([block])

    # the loop as the SDK documents it: the message object goes back as is
    messages.append(choice.message)
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"})
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert second.choices[0].message.content == "Tool results: sunny, 21C"
    assert second.choices[0].finish_reason == "stop"
    sent = last_sent(fake_anthropic)
    assert sent["messages"] == [
        {"role": "user", "content": [text("What's the weather in Paris?\n#scenario tools")]},
        {"role": "assistant", "content": [block]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21C"}]},
    ]


def test_parallel_tool_calls_stream_with_thinking(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    # thinking + text + two tool_use blocks, the second with input {} (one empty input_json_delta)
    chunks = stream_chunks(
        client, messages=[user("Weather and time?\n#scenario parallel_tools")], tools=TOOLS, reasoning_effort="low",
    )
    sent = last_sent(fake_anthropic)
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert all(len(c.choices) == 1 and c.choices[0].index == 0 for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert sorted({d.index for d in deltas}) == [0, 1]
    calls: dict[int, dict[str, Any]] = {}
    for d in deltas:
        if d.index not in calls:  # the call's first delta carries id, type and name
            assert d.id and d.type == "function" and d.function is not None and d.function.name
            calls[d.index] = {"id": d.id, "name": d.function.name, "arguments": d.function.arguments or ""}
        else:
            assert d.id is None and d.type is None
            assert d.function is not None and d.function.name is None
            calls[d.index]["arguments"] += d.function.arguments or ""
    assert [calls[0]["name"], calls[1]["name"]] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert json.loads(calls[1]["arguments"]) == {}
    assert calls[0]["id"].startswith("toolu_fake") and calls[1]["id"].startswith("toolu_fake")
    assert calls[0]["id"] != calls[1]["id"]
    assert finish_reasons(chunks) == ["tool_calls"]
    content = streamed_text(chunks)
    assert content == "I'll call two tools."
    assert THINKING_TEXT not in content
    reasoning = "".join(reasoning_of(c.choices[0].delta) or "" for c in chunks)
    assert reasoning == THINKING_TEXT


def test_thinking_signature_survives_the_tool_loop(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    messages: list[Any] = [user("Weather?\n#scenario tools")]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, reasoning_effort="low")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    assert reasoning_of(choice.message) == THINKING_TEXT
    assert THINKING_TEXT not in (choice.message.content or "")
    call = choice.message.tool_calls[0]
    messages += [choice.message, {"role": "tool", "tool_call_id": call.id, "content": "rain"}]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, reasoning_effort="low")
    # the fake refuses a continued loop whose assistant turn lacks its signed thinking block
    assert second.choices[0].message.content == "Tool results: rain"
    sent = last_sent(fake_anthropic)
    assistant = sent["messages"][1]["content"]
    assert assistant[0] == thinking_block()
    assert assistant[1]["type"] == "tool_use" and assistant[1]["id"] == call.id.split(".")[0]
    assert sent["messages"][2]["content"][0]["tool_use_id"] == assistant[1]["id"]


def test_sdk_stream_helper_reassembles_tool_calls_like_the_non_stream_reply(client: openai.OpenAI) -> None:
    messages = [user("Weather and time?\n#scenario parallel_tools")]
    whole = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    with client.chat.completions.stream(model=MODEL, messages=messages, tools=TOOLS) as stream:
        final = stream.get_final_completion()

    def shape(choice: Any) -> tuple[Any, ...]:
        calls = [(c.type, c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls]
        return choice.index, choice.finish_reason, choice.message.content, calls

    assert shape(final.choices[0]) == shape(whole.choices[0])
    assert shape(whole.choices[0]) == (
        0, "tool_calls", "I'll call two tools.",
        [("function", "get_weather", {"city": "Paris"}), ("function", "get_time", {})],
    )
    # arguments are equal strings too: "{}" for the empty input in both
    assert [c.function.arguments for c in final.choices[0].message.tool_calls][1] == "{}"
    assert [c.function.arguments for c in whole.choices[0].message.tool_calls][1] == "{}"
    assert all(c.id.startswith("toolu_fake") for c in final.choices[0].message.tool_calls)
    assert len(final.choices) == 1


def test_streamed_thinking_tool_loop_continues_with_the_signature(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic
) -> None:
    messages: list[Any] = [user("Weather and time?\n#scenario parallel_tools")]
    with client.chat.completions.stream(model=MODEL, messages=messages, tools=TOOLS, reasoning_effort="low") as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    assert message.content == "I'll call two tools."
    assert message.tool_calls is not None and len(message.tool_calls) == 2
    first, second = message.tool_calls
    messages.append(message)
    # results in the other order: still one user turn, paired by id
    messages.append({"role": "tool", "tool_call_id": second.id, "content": "noon"})
    messages.append({"role": "tool", "tool_call_id": first.id, "content": "rain"})
    chunks = stream_chunks(client, messages=messages, tools=TOOLS, reasoning_effort="low")
    assert streamed_text(chunks) == "Tool results: noon | rain"
    sent = last_sent(fake_anthropic)
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assistant = sent["messages"][1]["content"]
    assert [b["type"] for b in assistant] == ["thinking", "text", "tool_use", "tool_use"]
    assert assistant[0] == thinking_block()
    assert [b["name"] for b in assistant[2:]] == ["get_weather", "get_time"]
    assert [b["input"] for b in assistant[2:]] == [{"city": "Paris"}, {}]
    ids = [b["id"] for b in assistant[2:]]
    assert [r["tool_use_id"] for r in sent["messages"][2]["content"]] == [ids[1], ids[0]]


def test_tool_loop_begun_without_thinking_continues_without_it(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic
) -> None:
    messages: list[Any] = [user("Weather?\n#scenario tools")]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert "." not in call.id  # nothing packed without thinking
    messages += [first.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": "rain"}]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, reasoning_effort="low")
    assert second.choices[0].message.content == "Tool results: rain"
    assert "thinking" not in last_sent(fake_anthropic)
    messages += [second.choices[0].message, user("Thanks, and tomorrow?")]
    third = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, reasoning_effort="low")
    assert last_sent(fake_anthropic)["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert third.choices[0].message.content == "Thanks, and tomorrow?"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_tool_call_cut_by_max_tokens_is_length(client: openai.OpenAI, stream: bool) -> None:
    kw: dict[str, Any] = {"messages": [user("#scenario max_tokens_tool")], "tools": [WEATHER], "max_tokens": 20}
    if stream:
        chunks = stream_chunks(client, **kw)
        deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
        assert {d.index for d in deltas} == {0}
        assert deltas[0].function is not None and deltas[0].function.name == "get_weather"
        arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
        assert arguments and '{"city": "Paris"}'.startswith(arguments) and arguments != '{"city": "Paris"}'
        assert finish_reasons(chunks) == ["length"]
    else:
        reply = client.chat.completions.create(model=MODEL, **kw)
        assert reply.choices[0].finish_reason == "length"
        assert [c.function.name for c in reply.choices[0].message.tool_calls or []] == ["get_weather"]


@pytest.mark.parametrize(
    ("kw", "expected", "calls"),
    [
        ({"tool_choice": "none"}, {"type": "none"}, []),
        ({"tool_choice": "auto"}, {"type": "auto"}, ["get_weather", "get_time"]),
        ({"tool_choice": "required"}, {"type": "any"}, ["get_weather"]),
        ({"tool_choice": {"type": "function", "function": {"name": "get_time"}}}, {"type": "tool", "name": "get_time"}, ["get_time"]),
        ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}, ["get_weather"]),
        ({"tool_choice": "auto", "parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}, ["get_weather"]),
        ({"tool_choice": "required", "parallel_tool_calls": False}, {"type": "any", "disable_parallel_tool_use": True}, ["get_weather"]),
        ({"tool_choice": {"type": "function", "function": {"name": "get_time"}}, "parallel_tool_calls": False},
         {"type": "tool", "name": "get_time", "disable_parallel_tool_use": True}, ["get_time"]),
        ({"parallel_tool_calls": True}, None, ["get_weather", "get_time"]),
        ({"tool_choice": "auto", "parallel_tool_calls": True}, {"type": "auto"}, ["get_weather", "get_time"]),
    ],
    ids=["none", "auto", "required", "named", "parallel_false", "auto_parallel_false", "required_parallel_false",
         "named_parallel_false", "parallel_true", "auto_parallel_true"],
)
def test_tool_choice_and_parallel_tool_calls_reach_anthropic(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic, kw: dict[str, Any], expected: dict[str, Any], calls: list[str]
) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=[user("Weather and time?\n#scenario parallel_tools")], tools=TOOLS, **kw
    )
    sent = last_sent(fake_anthropic)
    assert sent.get("tool_choice") == expected
    assert sent["tools"] == [WEATHER_SPEC, CLOCK_SPEC]
    message = reply.choices[0].message
    assert [c.function.name for c in message.tool_calls or []] == calls
    assert reply.choices[0].finish_reason == ("tool_calls" if calls else "stop")


def test_tool_history_without_tools_gets_stand_in_definitions(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=tool_loop_history(None, "sunny"))
    assert reply.choices[0].message.content == "Tool results: sunny"
    sent = last_sent(fake_anthropic)
    assert sent["tools"] == [{"name": "get_weather", "input_schema": {"type": "object"}}]
    assert sent["tool_choice"] == {"type": "none"}


def test_response_format_json_object_is_a_forced_tool_whose_input_is_the_content(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic
) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=[user("give json")], response_format={"type": "json_object"}
    )
    sent = last_sent(fake_anthropic)
    assert sent["tool_choice"] == {"type": "tool", "name": "json_response"}
    assert [t["name"] for t in sent["tools"]] == ["json_response"]
    assert sent["tools"][0]["input_schema"] == {"type": "object"}
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.tool_calls is None
    assert json.loads(reply.choices[0].message.content or "") == {"echo": "give json"}
    chunks = stream_chunks(client, messages=[user("give json")], response_format={"type": "json_object"})
    assert json.loads(streamed_text(chunks)) == {"echo": "give json"}
    assert finish_reasons(chunks) == ["stop"]
    assert not any(c.choices[0].delta.tool_calls for c in chunks)


def test_response_format_json_schema_uses_the_schema(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    schema = {"type": "object", "properties": {"capital": {"type": "string"}, "population": {"type": "integer"}},
              "required": ["capital", "population"], "additionalProperties": False}
    reply = client.chat.completions.create(model=MODEL, messages=[user("France?")], response_format={
        "type": "json_schema", "json_schema": {"name": "country", "description": "A country", "schema": schema, "strict": True}})
    sent = last_sent(fake_anthropic)
    assert sent["tools"] == [{"name": "json_response", "input_schema": schema, "description": "A country"}]
    assert sent["tool_choice"] == {"type": "tool", "name": "json_response"}
    assert json.loads(reply.choices[0].message.content or "") == {"capital": "Paris", "population": 42}
    assert reply.choices[0].finish_reason == "stop"


def test_a_tool_without_description_or_parameters(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    tool = {"type": "function", "function": {"name": "ping-now", "strict": False}}
    reply = client.chat.completions.create(model=MODEL, messages=[user("#scenario tools")], tools=[tool])
    assert last_sent(fake_anthropic)["tools"] == [{"name": "ping-now", "input_schema": {"type": "object", "properties": {}}}]
    call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (call.function.name, call.function.arguments) == ("ping-now", "{}")


# ---------------------------------------------------------------- finish reasons and thinking


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(
    ("scenario", "kw", "content", "finish"),
    [
        ("max_tokens", {"max_tokens": 3}, "One two three", "length"),
        ("stop_sequence", {"stop": ["4"]}, "Counting: 1, 2, 3", "stop"),
        ("refusal", {}, "I can't help with that.", "content_filter"),
        ("", {}, "plain end_turn", "stop"),
    ],
    ids=["max_tokens", "stop_sequence", "refusal", "end_turn"],
)
def test_finish_reasons(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic, stream: bool, scenario: str, kw: dict[str, Any],
    content: str, finish: str,
) -> None:
    prompt = f"plain end_turn\n#scenario {scenario}" if scenario else "plain end_turn"
    if stream:
        chunks = stream_chunks(client, messages=[user(prompt)], **kw)
        assert (streamed_text(chunks), finish_reasons(chunks)) == (content, [finish])
    else:
        reply = client.chat.completions.create(model=MODEL, messages=[user(prompt)], **kw)
        assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == (content, finish)
    sent = last_sent(fake_anthropic)
    if "max_tokens" in kw:
        assert sent["max_tokens"] == 3
    if "stop" in kw:
        assert sent["stop_sequences"] == ["4"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_thinking_never_leaks_into_content(client: openai.OpenAI, stream: bool) -> None:
    messages = [user("Think first\n#scenario thinking")]
    if stream:
        chunks = stream_chunks(client, messages=messages)
        content = streamed_text(chunks)
        reasoning = "".join(reasoning_of(c.choices[0].delta) or "" for c in chunks)
        assert finish_reasons(chunks) == ["stop"]
    else:
        reply = client.chat.completions.create(model=MODEL, messages=messages)
        content = reply.choices[0].message.content or ""
        reasoning = reasoning_of(reply.choices[0].message) or ""
    assert content == "Think first"
    assert reasoning == THINKING_TEXT


@pytest.mark.parametrize(
    ("kw", "budget", "max_tokens"),
    [
        ({"reasoning_effort": "medium"}, DEFAULT_MAX_TOKENS - 1024, DEFAULT_MAX_TOKENS),  # capped: room to answer
        ({"reasoning_effort": "low"}, 2048, DEFAULT_MAX_TOKENS),
        ({"reasoning_effort": "high", "max_completion_tokens": 20000}, 16384, 20000),
        ({"reasoning_effort": "minimal", "max_tokens": 2048}, 1024, 2048),
    ],
    ids=["medium_capped", "low", "high", "minimal"],
)
def test_reasoning_effort_becomes_a_thinking_budget(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic, kw: dict[str, Any], budget: int, max_tokens: int
) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=[user("Reason about it")], **kw)
    sent = last_sent(fake_anthropic)
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert sent["max_tokens"] == max_tokens
    assert reply.choices[0].message.content == "Reason about it"
    assert reasoning_of(reply.choices[0].message) == THINKING_TEXT


def test_reasoning_effort_none_sends_no_thinking(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=[user("No thinking")], reasoning_effort="none")
    assert "thinking" not in last_sent(fake_anthropic)
    assert reply.choices[0].message.content == "No thinking"
    assert reasoning_of(reply.choices[0].message) is None


@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_effort_on_an_adaptive_model_is_adaptive_thinking_with_an_effort(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic, stream: bool
) -> None:
    # Issue 11 item 5: the fake, like Opus 4.7, refuses budget thinking on this model.
    kw: dict[str, Any] = {"model": "claude-adaptive", "messages": [user("Think hard")], "reasoning_effort": "medium"}
    if stream:
        chunks = list(client.chat.completions.create(stream=True, **kw))
        assert streamed_text(chunks) == "Think hard"
    else:
        reply = client.chat.completions.create(**kw)
        assert reply.choices[0].message.content == "Think hard"
        assert reasoning_of(reply.choices[0].message) == THINKING_TEXT
    sent = last_sent(fake_anthropic)
    assert sent["thinking"] == {"type": "adaptive"}
    assert sent["output_config"] == {"effort": "medium"}
    assert sent["max_tokens"] == 32000


def test_reasoning_effort_on_a_model_without_thinking_is_a_400(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic
) -> None:
    before = len(sent_requests(fake_anthropic))
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model="claude-nothink", messages=[user("x")], reasoning_effort="high")
    assert ex.value.body["param"] == "reasoning_effort"  # type: ignore[index]
    assert len(sent_requests(fake_anthropic)) == before
    reply = client.chat.completions.create(model="claude-nothink", messages=[user("fine")], reasoning_effort="none")
    assert reply.choices[0].message.content == "fine"


# ---------------------------------------------------------------- failures mid-stream


@pytest.mark.parametrize("scenario", ["error_midstream", "drop_midstream"])
def test_failure_mid_stream_raises_after_the_first_chunks_and_bills_what_was_spent(
    client: openai.OpenAI, stack: Stack, fake_anthropic: FakeAnthropic, scenario: str
) -> None:
    before = len(sent_requests(fake_anthropic))
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[user(f"Partial answer here\n#scenario {scenario}")], stream=True,
        stream_options={"include_usage": True},
    )
    request_id = raw.headers["x-request-id"]
    received: list[Any] = []
    with pytest.raises(openai.APIError) as ex:
        for chunk in raw.parse():
            received.append(chunk)
    assert not isinstance(ex.value, openai.APIStatusError)  # an error event inside a 200 stream
    assert received and received[0].choices[0].delta.role == "assistant"
    assert streamed_text(received) == "Partial answer here"
    assert finish_reasons(received) == []
    body = ex.value.body
    assert isinstance(body, dict) and body["type"] == "upstream_error"
    if scenario == "error_midstream":
        assert body["code"] == "upstream_overloaded"  # the event is an overloaded_error
        assert "overloaded_error: Overloaded" in ex.value.message
    else:
        assert "ended early" in ex.value.message
    # no retry once the first byte was sent
    assert len(sent_requests(fake_anthropic)) == before + 1
    sent = last_sent(fake_anthropic)
    event = stack.usage_for(request_id)
    assert event.status == "error"
    # message_start's output_tokens (1) is a placeholder: the streamed text is estimated
    assert (event.prompt_tokens, event.completion_tokens) == (input_tokens(sent), tokens("Partial answer here"))
    assert event.estimated is True
    assert event.stream is True


@pytest.mark.parametrize("scenario", ["error_midstream", "drop_midstream"])
def test_failure_mid_stream_ends_with_an_error_event_then_done(stack: Stack, api_key: str, scenario: str) -> None:
    body = {"model": MODEL, "stream": True, "messages": [user(f"Cut short\n#scenario {scenario}")]}
    response = httpx.post(f"{stack.base_url}/chat/completions", json=body, timeout=10,
                          headers={"authorization": f"Bearer {api_key}"})
    assert response.status_code == 200
    data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    error = json.loads(data[-2])["error"]
    code = "upstream_overloaded" if scenario == "error_midstream" else "upstream_error"  # an overloaded_error event
    assert (error["type"], error["code"], error["param"]) == ("upstream_error", code, None)
    chunks = [json.loads(d) for d in data[:-2]]
    assert chunks and all("error" not in c for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Cut short"


@pytest.mark.parametrize(
    ("scenario", "message"),
    [("error_midstream", "api_error: Internal server error"), ("drop_midstream", "")],
)
def test_failure_of_a_non_stream_request_is_a_502(client: openai.OpenAI, scenario: str, message: str) -> None:
    with pytest.raises(openai.InternalServerError) as ex:
        client.chat.completions.create(model=MODEL, messages=[user(f"#scenario {scenario}")])
    assert ex.value.status_code == 502
    assert message in ex.value.message


def test_client_disconnect_mid_stream_closes_the_upstream(
    stack: Stack, api_key: str, fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    noticed = threading.Event()
    original = fake_anthropic._send

    def send(*args: Any, **kw: Any) -> bool:
        ok = original(*args, **kw)
        if not ok:
            noticed.set()
        return ok

    monkeypatch.setattr(fake_anthropic, "_send", send)
    body = {"model": MODEL, "stream": True, "messages": [user("#scenario slow_stream")]}
    with httpx.Client(timeout=10) as http:
        with http.stream("POST", f"{stack.base_url}/chat/completions", json=body,
                         headers={"authorization": f"Bearer {api_key}"}) as response:
            assert response.status_code == 200
            request_id = response.headers["x-request-id"]
            lines = response.iter_lines()
            data = []
            while len(data) < 3:
                line = next(lines)
                if line.startswith("data: "):
                    data.append(json.loads(line[6:]))
            seen = "".join(d["choices"][0]["delta"].get("content") or "" for d in data)
            assert "word1" in seen
        # leaving the block closes the connection mid-stream (100 words would take 20 s)
    closed_at = time.monotonic()
    assert noticed.wait(5), "the fake Anthropic server still had its connection open"
    assert time.monotonic() - closed_at < 5
    event = stack.usage_for(request_id)
    assert event.status == "cancelled"
    sent = last_sent(fake_anthropic)
    assert event.prompt_tokens == input_tokens(sent)
    # the words the worker streamed before the cancel, estimated (never the placeholder 1):
    # at least those the client read (the gateway notices the close at the next heartbeat,
    # issue 14.7, so few more follow)
    assert event.estimated is True and event.completion_tokens >= tokens(seen) > 1
    assert sum(1 for e in stack.usage_events() if e.request_id == request_id) == 1


# ---------------------------------------------------------------- n > 1


def test_n_2_non_stream_fans_out_and_sums_usage(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    before = len(sent_requests(fake_anthropic))
    reply = client.chat.completions.create(model=MODEL, messages=[user("Twice please")], n=2)
    received = sent_requests(fake_anthropic)[before:]
    assert len(received) == 2
    assert all("n" not in r.json() for r in received)
    assert [c.index for c in reply.choices] == [0, 1]
    assert all(c.message.content == "Twice please" and c.finish_reason == "stop" for c in reply.choices)
    one_prompt = input_tokens(received[0].json())
    one_completion = output_tokens([text("Twice please")])
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (
        2 * one_prompt, 2 * one_completion, 2 * (one_prompt + one_completion))


def test_n_2_stream_interleaves_two_choices_and_sums_usage(
    client: openai.OpenAI, stack: Stack, fake_anthropic: FakeAnthropic
) -> None:
    before = len(sent_requests(fake_anthropic))
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[user("Two streams at once")], n=2, stream=True, stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())
    received = sent_requests(fake_anthropic)[before:]
    assert len(received) == 2
    body = [c for c in chunks if c.choices]
    assert {c.choices[0].index for c in body} == {0, 1}
    for index in (0, 1):
        mine = [c for c in body if c.choices[0].index == index]
        assert mine[0].choices[0].delta.role == "assistant"
        assert streamed_text(chunks, index) == "Two streams at once"
        assert finish_reasons(chunks, index) == ["stop"]
    assert len({c.id for c in chunks}) == 1
    last = chunks[-1]
    assert last.choices == [] and sum(1 for c in chunks if c.usage is not None) == 1
    one_prompt = input_tokens(received[0].json())
    one_completion = output_tokens([text("Two streams at once")])
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (2 * one_prompt, 2 * one_completion)
    event = stack.usage_for(raw.headers["x-request-id"])
    assert (event.prompt_tokens, event.completion_tokens) == (2 * one_prompt, 2 * one_completion)


# ---------------------------------------------------------------- upstream errors


@pytest.mark.parametrize(
    ("scenario", "status", "code", "fragment"),
    [
        ("bad_key", 502, "upstream_auth_error", "authentication_error: invalid x-api-key"),
        ("low_credit", 502, "upstream_auth_error", "credit balance is too low"),
        ("overloaded", 502, "upstream_overloaded", "anthropic upstream error (529): overloaded_error: Overloaded"),
        ("server_error", 502, "upstream_error", "anthropic upstream error (500): api_error: Internal server error"),
        ("not_found", 502, "upstream_error", "not_found_error: model: not found"),
        ("timeout", 504, "upstream_timeout", "timeout_error: Request timed out"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_upstream_server_side_errors_map_by_cause(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic, scenario: str, status: int, code: str, fragment: str,
    stream: bool,
) -> None:
    before = len(sent_requests(fake_anthropic))
    with pytest.raises(openai.APIStatusError) as ex:
        client.chat.completions.create(model=MODEL, messages=[user(f"#scenario {scenario}")], stream=stream)
    assert not isinstance(ex.value, openai.AuthenticationError | openai.PermissionDeniedError)
    assert ex.value.status_code == status
    assert ex.value.code == code
    assert fragment in ex.value.message
    assert len(sent_requests(fake_anthropic)) == before + 1


def test_wrong_upstream_key_is_a_502_not_the_callers_401(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    with pytest.raises(openai.InternalServerError) as ex:
        client.chat.completions.create(model="claude-wrongkey", messages=[user("hi")])
    received = sent_requests(fake_anthropic)[-1]
    assert received.headers["x-api-key"] == "sk-ant-not-the-right-one"
    assert received.json()["max_tokens"] == 1024  # that model entry's max_output_tokens
    assert ex.value.status_code == 502
    assert ex.value.code == "upstream_auth_error"
    assert "invalid x-api-key" in ex.value.message


def test_a_wrong_upstream_key_is_not_retried_by_the_sdk(
    stack: Stack, api_key: str, fake_anthropic: FakeAnthropic
) -> None:
    retrying = openai.OpenAI(base_url=stack.base_url, api_key=api_key, max_retries=2, timeout=20)
    before = len(sent_requests(fake_anthropic))
    with pytest.raises(openai.InternalServerError) as ex:
        retrying.chat.completions.create(model="claude-wrongkey", messages=[user("hi")])
    assert ex.value.code == "upstream_auth_error"
    assert ex.value.response.headers.get("x-should-retry") == "false"
    assert len(sent_requests(fake_anthropic)) == before + 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_upstream_429_is_a_rate_limit_error_with_retry_after(client: openai.OpenAI, stream: bool) -> None:
    with pytest.raises(openai.RateLimitError) as ex:
        client.chat.completions.create(model=MODEL, messages=[user("#scenario rate_limited")], stream=stream)
    assert ex.value.status_code == 429
    assert ex.value.response.headers["retry-after"] == "7"
    assert ex.value.code == "rate_limit_exceeded"
    assert "rate_limit_error: Number of request tokens has exceeded" in ex.value.message


def test_upstream_read_timeout_is_a_504(client: openai.OpenAI) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as ex:
        client.chat.completions.create(model=MODEL, messages=[user("#scenario slow 3")])
    assert ex.value.status_code == 504
    assert ex.value.code == "upstream_timeout"
    # the provider's timeout_s = 2 (never early); a longer one would have read the fake's
    # answer at 3 s and been a 200, so the code tells it; the bound only guards a hang
    assert 2.0 - 0.1 <= time.monotonic() - started < 2.0 + SLACK_S


def test_upstream_400_keeps_anthropics_message(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model=MODEL, messages=[user("#scenario error_400")])
    assert ex.value.status_code == 400
    assert "invalid_request_error: prompt is too long: 250000 tokens > 200000 maximum" in ex.value.message
    assert isinstance(ex.value.body, dict) and ex.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as ex:  # Claude's own limit, which only Anthropic knows
        client.chat.completions.create(model=MODEL, messages=[user("long answer")], max_tokens=200_000)
    assert "max_tokens: 200000 > 128000, which is the maximum allowed number of output tokens" in ex.value.message


# ---------------------------------------------------------------- refused with a 400 naming the param


def _bad_args_history(arguments: str) -> list[dict[str, Any]]:
    history = tool_loop_history(None, "sunny")
    history[1]["tool_calls"][0]["function"]["arguments"] = arguments
    return history


@pytest.mark.parametrize(
    ("kw", "param"),
    [
        ({"temperature": 1.5}, "temperature"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"frequency_penalty": -1}, "frequency_penalty"),
        ({"seed": 7}, "seed"),
        ({"stop": "\n"}, "stop"),
        ({"stop": ["END", " \t"]}, "stop[1]"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),  # OpenAI's limit of 4, checked by the gateway
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"reasoning_effort": "low", "temperature": 0.5}, "temperature"),
        ({"reasoning_effort": "low", "max_tokens": 1500}, "max_tokens"),
        ({"reasoning_effort": "low", "top_p": 0.5}, "top_p"),
        ({"reasoning_effort": "low", "messages": [user("JSON please"), {"role": "assistant", "content": "["}]},
         "reasoning_effort"),  # prefill with thinking (issue 11 item 7)
        ({"reasoning_effort": "low", "response_format": {"type": "json_object"}}, "response_format"),
        ({"reasoning_effort": "low", "tools": TOOLS, "tool_choice": "required"}, "tool_choice"),
        ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tools": TOOLS, "response_format": {"type": "json_object"}}, "response_format"),
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": "json_response"}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]},
         "tools[0].function.parameters"),
        ({"messages": [user([{"type": "text", "text": "listen"},
                             {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}])]},
         "messages[0].content[1]"),
        ({"messages": [user([{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}])]},
         "messages[0].content[0]"),
        ({"messages": [user([{"type": "image_url", "image_url": {"url": "data:image/png,not-base64"}}])]},
         "messages[0].content[0]"),
        ({"messages": [user([{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}])]},
         "messages[0].content[1]"),
        ({"messages": [user([{"type": "file", "file": {"file_id": "file-123"}}])]}, "messages[0].content[0]"),
        ({"messages": _bad_args_history("{not json")}, "messages[1].tool_calls[0].function.arguments"),
        ({"messages": _bad_args_history("[1, 2]")}, "messages[1].tool_calls[0].function.arguments"),
        ({"messages": tool_loop_history(None, "x")[:2] + [{"role": "tool", "tool_call_id": "toolu_other", "content": "x"}]},
         "messages[2].tool_call_id"),
        ({"messages": tool_loop_history(None, "x")[:2] + [user("never mind")]}, "messages[1].tool_calls[0]"),
    ],
    ids=lambda v: None if isinstance(v, dict) else v,
)
def test_what_claude_cannot_take_is_a_400_naming_the_param(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic, kw: dict[str, Any], param: str
) -> None:
    before = len(sent_requests(fake_anthropic))
    kw = {"messages": [user("hi")], **kw}
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model=MODEL, **kw)
    assert ex.value.status_code == 400
    assert isinstance(ex.value.body, dict)
    assert ex.value.body["type"] == "invalid_request_error"
    assert ex.value.body["param"] == param
    assert ex.value.message
    assert len(sent_requests(fake_anthropic)) == before  # refused before any upstream call


def test_the_stream_is_refused_the_same_way(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    before = len(sent_requests(fake_anthropic))
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model=MODEL, messages=[user("hi")], temperature=1.5, stream=True)
    assert ex.value.body["param"] == "temperature"  # type: ignore[index]
    assert len(sent_requests(fake_anthropic)) == before


# ---------------------------------------------------------------- empty content (PITFALLS 4)


@pytest.mark.parametrize("empty", ["", [], "  \n\t", [{"type": "text", "text": ""}, {"type": "text", "text": "  "}]],
                         ids=["empty_string", "empty_list", "whitespace", "empty_parts"])
def test_empty_content_never_becomes_an_empty_text_block(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic, empty: Any
) -> None:
    messages = [
        {"role": "system", "content": empty},
        user(empty),
        *tool_loop_history(empty, empty),
        {"role": "developer", "content": empty},
        user(empty),
    ]
    reply = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert reply.choices[0].finish_reason == "stop"
    sent = last_sent(fake_anthropic)
    assert all(b["text"].strip() for b in text_blocks(sent))
    assert "system" not in sent
    assert sent["messages"] == [
        {"role": "user", "content": [text("What's the weather in Paris?")]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01hist", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01hist"}]},
    ]
    assert reply.choices[0].message.content == "Tool results: "


def test_null_content_on_an_assistant_tool_call_message(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=tool_loop_history(None, "cloudy"), tools=[WEATHER])
    assert reply.choices[0].message.content == "Tool results: cloudy"
    sent = last_sent(fake_anthropic)
    assert sent["messages"][1]["content"] == [
        {"type": "tool_use", "id": "toolu_01hist", "name": "get_weather", "input": {"city": "Paris"}}]
    assert sent["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_01hist", "content": "cloudy"}]


@pytest.mark.parametrize("index", [0, 2], ids=["user", "tool"])
def test_null_content_on_user_and_tool_messages_is_refused_like_openai_does(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic, index: int
) -> None:
    # OpenAI allows null content only on assistant messages; nothing reaches the upstream
    before = len(sent_requests(fake_anthropic))
    messages = tool_loop_history(None, "sunny")
    messages[index]["content"] = None
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert ex.value.body["param"].startswith(f"messages[{index}]")  # type: ignore[index]
    assert len(sent_requests(fake_anthropic)) == before


def test_only_empty_messages_is_a_400(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    before = len(sent_requests(fake_anthropic))
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model=MODEL, messages=[user(""), user("  ")])
    assert ex.value.body["param"] == "messages"  # type: ignore[index]
    assert len(sent_requests(fake_anthropic)) == before


# ---------------------------------------------------------------- system prompts and roles (PITFALLS 5)


def test_system_and_developer_messages_anywhere_join_the_system_prompt_in_order(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic
) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=[
        {"role": "system", "content": "You are Claude."},
        {"role": "developer", "content": "Answer in English."},
        user("Hi"),
        {"role": "assistant", "content": "Hello!"},
        {"role": "system", "content": [{"type": "text", "text": "Now be brief."}]},
        user("Again"),
    ])
    assert reply.choices[0].message.content == "Again"
    sent = last_sent(fake_anthropic)
    assert sent["system"] == [text("You are Claude."), text("Answer in English."), text("Now be brief.")]
    assert sent["messages"] == [
        {"role": "user", "content": [text("Hi")]},
        {"role": "assistant", "content": [text("Hello!")]},
        {"role": "user", "content": [text("Again")]},
    ]


@pytest.mark.parametrize("role", ["system", "developer"])
def test_a_system_only_request_sends_its_text_as_the_user_turn(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic, role: str
) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": role, "content": "Say hello"}])
    assert reply.choices[0].message.content == "Say hello"
    sent = last_sent(fake_anthropic)
    assert "system" not in sent
    assert sent["messages"] == [{"role": "user", "content": [text("Say hello")]}]


def test_consecutive_roles_are_merged_and_a_leading_assistant_gets_a_user_turn(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic
) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=[
        {"role": "assistant", "content": "Welcome."},
        user("a"),
        user([{"type": "text", "text": "b"}]),
        {"role": "assistant", "content": "x"},
        {"role": "assistant", "content": "y"},
        user("c"),
        {"role": "assistant", "content": "The answer is  \n"},
    ])
    assert reply.choices[0].finish_reason == "stop"
    assert last_sent(fake_anthropic)["messages"] == [
        {"role": "user", "content": [text(".")]},
        {"role": "assistant", "content": [text("Welcome.")]},
        {"role": "user", "content": [text("a"), text("b")]},
        {"role": "assistant", "content": [text("x"), text("y")]},
        {"role": "user", "content": [text("c")]},
        {"role": "assistant", "content": [text("The answer is")]},  # prefill without trailing whitespace
    ]


def test_consecutive_tool_results_share_one_user_turn(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    messages: list[Any] = [
        user("Weather and time?"),
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "toolu_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
            {"id": "call:b/2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
        ]},
        {"role": "tool", "tool_call_id": "toolu_a", "content": [{"type": "text", "text": "snow"}]},
        user("And tomorrow?"),
        {"role": "tool", "tool_call_id": "call:b/2", "content": "noon"},
    ]
    reply = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    assert reply.choices[0].message.content == "Tool results: snow | noon"
    assert last_sent(fake_anthropic)["messages"] == [
        {"role": "user", "content": [text("Weather and time?")]},
        {"role": "assistant", "content": [
            text("Let me check."),
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "call_b_2", "name": "get_time", "input": {}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_a", "content": [text("snow")]},
            {"type": "tool_result", "tool_use_id": "call_b_2", "content": "noon"},
            text("And tomorrow?"),
        ]},
    ]


# ---------------------------------------------------------------- images (PITFALLS 17)


def test_https_and_data_url_images_reach_claude_in_its_forms(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=[user([
        {"type": "text", "text": "Compare these"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        {"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{PNG_B64}"}},
    ])])
    assert reply.choices[0].message.content == "Compare these"
    assert last_sent(fake_anthropic)["messages"] == [{"role": "user", "content": [
        text("Compare these"),
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG_B64}},
    ]}]


def test_a_pdf_data_url_becomes_a_document_block(client: openai.OpenAI, fake_anthropic: FakeAnthropic) -> None:
    pdf = "JVBERi0xLjQK"
    reply = client.chat.completions.create(model=MODEL, messages=[user([
        {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{pdf}", "filename": "a.pdf"}},
        {"type": "text", "text": "Summarise"},
    ])])
    assert reply.choices[0].message.content == "Summarise"
    assert last_sent(fake_anthropic)["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": pdf}},
        text("Summarise"),
    ]
