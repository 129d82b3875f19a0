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
