"""usageMetadata -> usage (PITFALLS 9, 12): the numbers the ledger bills."""

from __future__ import annotations

from tests.workers.providers.gemini.conftest import as_json
from workers.providers.gemini.schema import UsageMetadata
from workers.providers.gemini.usage import to_openai_usage


# PITFALLS 15
def test_thoughts_count_as_completion_and_reasoning_tokens() -> None:
    usage = to_openai_usage(
        UsageMetadata(
            prompt_token_count=8,
            candidates_token_count=7,
            thoughts_token_count=24,
            total_token_count=39,
        )
    )
    assert as_json(usage) == {
        "prompt_tokens": 8,
        "completion_tokens": 31,
        "total_tokens": 39,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 24},
    }


# PITFALLS 12
def test_cached_tokens_are_part_of_prompt_tokens_not_added() -> None:
    usage = to_openai_usage(
        UsageMetadata(
            prompt_token_count=1200, cached_content_token_count=1024, candidates_token_count=1
        )
    )
    assert usage.prompt_tokens == 1200
    assert usage.cached_tokens() == 1024
    assert usage.total_tokens == 1201


# PITFALLS 12
def test_cached_tokens_never_exceed_prompt_tokens() -> None:
    usage = to_openai_usage(UsageMetadata(prompt_token_count=10, cached_content_token_count=50))
    assert usage.cached_tokens() == 10


def test_tool_use_prompt_tokens_count_as_prompt() -> None:
    usage = to_openai_usage(
        UsageMetadata(
            prompt_token_count=10, tool_use_prompt_token_count=5, candidates_token_count=2
        )
    )
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (15, 2, 17)


def test_missing_metadata_is_zero_usage() -> None:
    assert as_json(to_openai_usage(None)) == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
    }


def test_total_is_prompt_plus_completion_not_googles_total() -> None:
    # NOTE: blocked prompts report only promptTokenCount and totalTokenCount.
    usage = to_openai_usage(UsageMetadata(prompt_token_count=14, total_token_count=14))
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (14, 0, 14)
