"""What a job bills when the upstream's own count is missing or partial."""

from __future__ import annotations

from gateway.contracts.openai import PromptTokensDetails, Usage
from workers.service import Outcome


def test_reported_usage_is_billed_as_is() -> None:
    outcome = Outcome(usage=Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15), streamed_chars=400)
    assert outcome.billable_usage() == (Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15), False)


def test_cancelled_non_stream_request_bills_the_prompt_estimate() -> None:
    outcome = Outcome(status="cancelled", upstream_working=True, prompt_estimate=42)
    usage, estimated = outcome.billable_usage()
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, estimated) == (42, 0, 42, True)


def test_cut_stream_without_usage_estimates_prompt_and_streamed_text() -> None:
    outcome = Outcome(status="error", upstream_working=True, prompt_estimate=10, streamed_chars=81)
    usage, estimated = outcome.billable_usage()
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, estimated) == (10, 21, 31, True)


def test_cut_stream_with_reported_input_keeps_it_and_estimates_the_output() -> None:
    reported = Usage(prompt_tokens=100, total_tokens=100, prompt_tokens_details=PromptTokensDetails(40))
    outcome = Outcome(usage=reported, status="cancelled", upstream_working=True, prompt_estimate=7, streamed_chars=8)
    usage, estimated = outcome.billable_usage()
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.cached_tokens()) == (100, 2, 102, 40)
    assert estimated


def test_upstream_refusal_bills_nothing() -> None:
    outcome = Outcome(status="error", upstream_working=False, prompt_estimate=50)
    assert outcome.billable_usage()[0].total_tokens == 0


def test_ok_answer_without_usage_is_estimated() -> None:
    outcome = Outcome(status="ok", upstream_working=True, prompt_estimate=5, streamed_chars=12)
    usage, estimated = outcome.billable_usage()
    assert (usage.prompt_tokens, usage.completion_tokens, estimated) == (5, 3, True)


def test_data_url_without_payload_is_malformed() -> None:
    from workers.providers.data_url import parse_data_url

    assert parse_data_url("data:image/png;base64,") is None
    assert parse_data_url("data:image/png;base64,aGk=") is not None
