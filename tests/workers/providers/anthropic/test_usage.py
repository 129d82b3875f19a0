"""Anthropic usage -> OpenAI usage (PITFALLS 9, 10, 12)."""

from __future__ import annotations

from gateway.contracts.openai import PromptTokensDetails, Usage
from workers.providers.anthropic.schema import AnthropicUsage, DeltaUsage
from workers.providers.anthropic.usage import UsageTally, to_openai_usage


def test_prompt_tokens_include_cache_writes_and_reads() -> None:
    usage = to_openai_usage(
        AnthropicUsage(
            input_tokens=50, output_tokens=12, cache_creation_input_tokens=248, cache_read_input_tokens=1800
        )
    )
    assert usage == Usage(
        prompt_tokens=2098,
        completion_tokens=12,
        total_tokens=2110,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=1800, cache_write_tokens=248),
    )


def test_cached_tokens_never_exceed_prompt_tokens() -> None:
    usage = to_openai_usage(AnthropicUsage(input_tokens=0, output_tokens=1, cache_read_input_tokens=900))
    assert usage.cached_tokens() == 900
    assert usage.cached_tokens() <= usage.prompt_tokens == 900


def test_null_or_absent_cache_fields_count_as_zero() -> None:
    usage = to_openai_usage(
        AnthropicUsage(input_tokens=7, output_tokens=3, cache_creation_input_tokens=None)
    )
    assert usage == Usage(
        prompt_tokens=7,
        completion_tokens=3,
        total_tokens=10,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=0),
    )


def test_stream_tally_replaces_cumulative_delta_usage_never_adds() -> None:
    tally = UsageTally()
    tally.start(AnthropicUsage(input_tokens=100, output_tokens=1))
    tally.update(DeltaUsage(output_tokens=10))
    tally.update(DeltaUsage(output_tokens=25))
    assert tally.to_openai() == Usage(
        prompt_tokens=100,
        completion_tokens=25,
        total_tokens=125,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=0),
    )


def test_stream_tally_takes_input_fields_from_message_delta_when_present() -> None:
    tally = UsageTally()
    tally.start(AnthropicUsage(input_tokens=50, output_tokens=1, cache_read_input_tokens=0))
    tally.update(DeltaUsage(output_tokens=12, cache_creation_input_tokens=248, cache_read_input_tokens=1800))
    usage = tally.to_openai()
    assert (usage.prompt_tokens, usage.cached_tokens(), usage.total_tokens) == (2098, 1800, 2110)


def test_issue_11_stream_tally_before_any_delta_knows_no_output_yet() -> None:
    # message_start's output_tokens is a placeholder (1 to 3), not a count of the reply.
    tally = UsageTally()
    tally.start(AnthropicUsage(input_tokens=25, output_tokens=3))
    assert (tally.to_openai().prompt_tokens, tally.to_openai().completion_tokens) == (25, 0)
    assert tally.to_openai().total_tokens == 25
