"""The OpenAI Agents SDK's default Runner (its Responses model) with a function tool, end to end."""

from __future__ import annotations

import pytest
from agents import Agent, Runner, function_tool, set_default_openai_client, set_tracing_disabled
from openai import AsyncOpenAI

from tests.e2e.responses.conftest import ROUTES
from tests.harness.stack import Stack

calls: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    calls.append(city)
    return f"sunny and 21C in {city}"


@pytest.mark.parametrize("model", ROUTES)
def test_the_default_runner_calls_a_function_tool_and_answers(responses_stack: Stack, responses_key: str,
                                                             model: str) -> None:
    set_tracing_disabled(True)  # NOTE: tracing would export to OpenAI's own servers
    # The default model provider (a model name, no model class): the Responses API.
    set_default_openai_client(AsyncOpenAI(base_url=responses_stack.base_url, api_key=responses_key, max_retries=0),
                              use_for_tracing=False)
    agent = Agent(name="weather", instructions="Use the tool.", tools=[get_weather], model=model)
    calls.clear()
    result = Runner.run_sync(agent, "#scenario tools what is the weather in Paris?")
    assert len(calls) == 1
    assert "sunny and 21C" in str(result.final_output)
    kinds = [item.type for item in result.new_items]
    assert kinds[:2] == ["tool_call_item", "tool_call_output_item"] and kinds[-1] == "message_output_item"
    assert len(result.raw_responses) == 2
    assert all(r.usage.output_tokens > 0 for r in result.raw_responses)
