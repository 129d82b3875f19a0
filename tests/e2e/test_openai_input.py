"""OpenAI-shaped input that SDKs and agents send, end to end (issue 11, items 14 and 15).

Pass-through routes (OpenAI kind) must forward what OpenAI accepts as sent; converted
routes (Claude, Gemini) either map it or refuse it with a 400 naming the parameter.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI

# ---------------------------------------------------------------- item 15: nulls for "absent"


@pytest.mark.parametrize("model", ["gpt-test", "claude-test", "gemini-test", "echo"])
def test_history_from_model_dump_is_accepted(client: openai.OpenAI, model: str) -> None:
    first = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}])
    dumped: dict[str, Any] = first.choices[0].message.model_dump()
    assert dumped["tool_calls"] is None  # what the SDK writes, sent back as is
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "hello"}, dumped, {"role": "user", "content": "again"}],  # type: ignore[list-item]
    )
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"


def test_history_with_null_tool_calls_reaches_openai_as_sent(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    history: Any = [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi", "tool_calls": None, "function_call": None},
        {"role": "user", "content": "again"},
    ]
    reply = client.chat.completions.create(model="gpt-test", messages=history)
    assert reply.choices[0].message.content == "fake: again"
    sent = fake_openai.requests_to("/chat/completions")[-1].json()
    assert sent["messages"] == history


def test_embeddings_with_null_options_pass_through(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    reply = client.embeddings.create(
        model="embed-test", input="hello", dimensions=None, user=None, encoding_format=None  # type: ignore[arg-type]
    )
    sent = fake_openai.requests_to("/embeddings")[-1].json()
    assert sent == {"model": "embed-upstream", "input": "hello", "dimensions": None, "user": None,
                    "encoding_format": None}
    assert reply.data[0].embedding[:4] == pytest.approx([0.125, 0.126, 0.127, 0.128], abs=1e-6)  # floats


def test_embeddings_with_null_options_on_echo(client: openai.OpenAI) -> None:
    reply = client.embeddings.create(
        model="echo-embed", input=["a", "b"], dimensions=None, user=None, encoding_format=None  # type: ignore[arg-type]
    )
    assert [len(d.embedding) for d in reply.data] == [64, 64]  # echo's default size, floats
    assert isinstance(reply.data[0].embedding, list)


# ---------------------------------------------------------------- item 14: OpenAI-only shapes

WEATHER: dict[str, Any] = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
SQL_TOOL: dict[str, Any] = {"type": "custom", "custom": {"name": "sql", "description": "Run SQL",
                                                         "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: /.+/"}}}}
ALLOWED: dict[str, Any] = {"type": "allowed_tools",
                           "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "get_weather"}}]}}
OPENAI_ONLY: dict[str, dict[str, Any]] = {
    "allowed_tools": {"tools": [WEATHER, SQL_TOOL], "tool_choice": ALLOWED},
    "custom_tool_choice": {"tools": [SQL_TOOL], "tool_choice": {"type": "custom", "custom": {"name": "sql"}}},
    "custom_call_history": {"tools": [SQL_TOOL], "messages": [
        {"role": "user", "content": "count users"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "call_1", "type": "custom", "custom": {"name": "sql", "input": "SELECT count(*) FROM users"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        {"role": "user", "content": "thanks"},
    ]},
    "function_role": {"messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "function_call": {"name": "get_weather", "arguments": "{}"}},
        {"role": "function", "name": "get_weather", "content": "sunny"},
        {"role": "user", "content": "thanks"},
    ], "functions": [WEATHER["function"]]},
}


@pytest.mark.parametrize("case", sorted(OPENAI_ONLY))
def test_openai_only_shapes_reach_openai_as_sent(client: openai.OpenAI, fake_openai: FakeOpenAI, case: str) -> None:
    fields = OPENAI_ONLY[case]
    messages = fields.get("messages", [{"role": "user", "content": "thanks"}])
    extra = {k: v for k, v in fields.items() if k != "messages"}
    reply = client.chat.completions.create(model="gpt-test", messages=messages, extra_body=extra)
    assert reply.choices[0].message.content == "fake: thanks"
    sent = fake_openai.requests_to("/chat/completions")[-1].json()
    assert sent == {"model": "gpt-upstream", "messages": messages, **extra}


@pytest.mark.parametrize(
    ("case", "param"),
    [("allowed_tools", "tools[1]"), ("custom_tool_choice", "tools[0]"),
     ("custom_call_history", "messages[1].tool_calls[0]"), ("function_role", "messages[2].role")],
)
@pytest.mark.parametrize("model", ["claude-test", "gemini-test"])
def test_openai_only_shapes_are_a_400_on_converted_models(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic, model: str, case: str, param: str
) -> None:
    fields = OPENAI_ONLY[case]
    messages = fields.get("messages", [{"role": "user", "content": "thanks"}])
    # the history case alone, so the custom call (not the custom tool) is what is refused
    extra = {k: v for k, v in fields.items() if k != "messages" and case != "custom_call_history"}
    before = len(fake_anthropic.requests_to("/v1/messages"))
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model=model, messages=messages, extra_body=extra)
    assert ex.value.status_code == 400
    assert ex.value.body["param"] == param  # type: ignore[index]
    assert "only OpenAI models support" in ex.value.message
    assert len(fake_anthropic.requests_to("/v1/messages")) == before  # nothing went upstream


def test_allowed_tools_on_claude_names_tool_choice(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model="claude-test", messages=[{"role": "user", "content": "hi"}],
                                       tools=[WEATHER], tool_choice=ALLOWED)  # type: ignore[list-item,arg-type]
    assert ex.value.body["param"] == "tool_choice"  # type: ignore[index]
    assert "allowed_tools" in ex.value.message


# ---------------------------------------------------------------- item 8: cache_control on OpenAI routes


def test_cache_control_marks_are_stripped_on_openai_routes(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    mark = {"type": "ephemeral"}
    messages: Any = [
        {"role": "system", "content": "rules", "cache_control": mark},
        {"role": "user", "content": [{"type": "text", "text": "doc", "cache_control": mark}, {"type": "text", "text": "thanks"}]},
    ]
    tools: Any = [{**WEATHER, "cache_control": mark}]
    reply = client.chat.completions.create(model="gpt-test", messages=messages, tools=tools)
    assert reply.choices[0].message.content == "fake: docthanks"
    sent = fake_openai.requests_to("/chat/completions")[-1].json()
    assert "cache_control" not in str(sent)
    assert sent["messages"][1]["content"] == [{"type": "text", "text": "doc"}, {"type": "text", "text": "thanks"}]
    assert sent["tools"] == [WEATHER]
