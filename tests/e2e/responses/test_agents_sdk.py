"""The OpenAI Agents SDK's default Runner (its Responses model) with a function tool, end to end."""

from __future__ import annotations

import pytest
from agents import Agent, Runner, function_tool, set_default_openai_client, set_tracing_disabled
from openai import AsyncOpenAI

from tests.e2e.responses.conftest import ROUTES
from tests.fakes.openai import PROMPT_TOKENS
from tests.fakes.openai_responses import RESPONSES_INPUT_TOKENS
from tests.harness.procs import wait_until
from tests.harness.stack import Stack

calls: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    calls.append(city)
    return f"sunny and 21C in {city}"


@pytest.mark.parametrize("model", ROUTES)
def test_the_default_runner_calls_a_function_tool_and_answers(responses_stack: Stack, model: str) -> None:
    key_name = f"agents-sdk-{model}"
    responses_key = responses_stack.create_key(key_name)  # its own key: its usage events are this run's
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
    # each response's usage is what was billed for it, one usage event per model call
    wait_until(lambda: len([e for e in responses_stack.usage_events() if e.key_name == key_name]) >= 2, 10,
               "a usage event per model call")
    events = sorted((e for e in responses_stack.usage_events() if e.key_name == key_name), key=lambda e: e.started_at)
    told = [(r.usage.input_tokens, r.usage.input_tokens_details.cached_tokens, r.usage.output_tokens)
            for r in result.raw_responses]
    assert [(e.prompt_tokens, e.cached_tokens, e.completion_tokens) for e in events] == told
    assert {(e.model, e.status, e.estimated) for e in events} == {(model, "ok", False)}
    fixed = {"gpt-conv": (PROMPT_TOKENS, 3), "gpt-native": (RESPONSES_INPUT_TOKENS, 2)}.get(model)
    if fixed:  # the OpenAI fakes' fixed usage
        assert [t[:2] for t in told] == [fixed, fixed]
