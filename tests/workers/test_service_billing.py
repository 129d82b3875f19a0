"""What a job bills when the upstream's own count is missing or partial."""

from __future__ import annotations

import msgspec

from gateway.contracts.openai import (
    ChatCompletionChunk,
    ChunkChoice,
    Delta,
    FunctionCallDelta,
    PromptTokensDetails,
    ToolCallDelta,
    Usage,
)
from gateway.runtime.estimate import chunk_chars as output_chars
from workers.job import Outcome


def test_reported_usage_is_billed_as_is() -> None:
    outcome = Outcome(usage=Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15))
    assert outcome.billable_usage() == (Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15), False)


def test_output_of_choices_without_a_count_is_added_to_the_reported_output() -> None:
    # n = 2: one choice finished with its count (5), the other was cut after 400 characters.
    reported = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)
    outcome = Outcome(usage=reported, status="error", upstream_working=True, unreported_chars=400)
    usage, estimated = outcome.billable_usage()
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, estimated) == (10, 105, 115, True)


def test_output_chars_count_text_reasoning_and_tool_calls() -> None:
    call = ToolCallDelta(index=0, id="call_1", type="function", function=FunctionCallDelta("get_weather", '{"city":'))
    chunk = ChatCompletionChunk(id="c", created=1, model="m", choices=[
        ChunkChoice(index=0, delta=Delta(content="Hello", reasoning_content="Think", tool_calls=[call])),
    ])
    assert output_chars(chunk) == len("Hello") + len("Think") + len("get_weather") + len('{"city":')


def test_output_chars_of_pass_through_chunks() -> None:
    raw = msgspec.Raw(b'{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":null,'
                      b'"reasoning":"abc","tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}')
    assert output_chars(raw) == 5
    assert output_chars(msgspec.Raw(b'{"choices":[],"usage":{"prompt_tokens":3}}')) == 0


def test_cancelled_non_stream_request_bills_the_prompt_estimate() -> None:
    outcome = Outcome(status="cancelled", upstream_working=True, prompt_estimate=42)
    usage, estimated = outcome.billable_usage()
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, estimated) == (42, 0, 42, True)


def test_cut_stream_without_usage_estimates_prompt_and_streamed_text() -> None:
    outcome = Outcome(status="error", upstream_working=True, prompt_estimate=10, unreported_chars=81)
    usage, estimated = outcome.billable_usage()
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, estimated) == (10, 21, 31, True)


def test_cut_stream_with_reported_input_keeps_it_and_estimates_the_output() -> None:
    reported = Usage(prompt_tokens=100, total_tokens=100, prompt_tokens_details=PromptTokensDetails(40))
    outcome = Outcome(usage=reported, status="cancelled", upstream_working=True, prompt_estimate=7, unreported_chars=8)
    usage, estimated = outcome.billable_usage()
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.cached_tokens()) == (100, 2, 102, 40)
    assert estimated


def test_upstream_refusal_bills_nothing() -> None:
    outcome = Outcome(status="error", upstream_working=False, prompt_estimate=50)
    assert outcome.billable_usage()[0].total_tokens == 0


def test_ok_answer_without_usage_is_estimated() -> None:
    outcome = Outcome(status="ok", upstream_working=True, prompt_estimate=5, unreported_chars=12)
    usage, estimated = outcome.billable_usage()
    assert (usage.prompt_tokens, usage.completion_tokens, estimated) == (5, 3, True)


def test_data_url_without_payload_is_malformed() -> None:
    from workers.providers.data_url import parse_data_url

    assert parse_data_url("data:image/png;base64,") is None
    assert parse_data_url("data:image/png;base64,aGk=") is not None
