"""finishReason -> finish_reason (PITFALLS 3)."""

from __future__ import annotations

import pytest

from workers.providers.gemini.finish import is_failure_without_output, to_openai_finish_reason


def test_stop_without_function_calls_maps_to_stop() -> None:
    assert to_openai_finish_reason("STOP", has_tool_calls=False) == "stop"


# PITFALLS 3
def test_stop_with_function_calls_maps_to_tool_calls() -> None:
    assert to_openai_finish_reason("STOP", has_tool_calls=True) == "tool_calls"


# PITFALLS 3
def test_max_tokens_maps_to_length_even_after_function_calls() -> None:
    assert to_openai_finish_reason("MAX_TOKENS", has_tool_calls=False) == "length"
    assert to_openai_finish_reason("MAX_TOKENS", has_tool_calls=True) == "length"


# PITFALLS 3
@pytest.mark.parametrize(
    "reason",
    [
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    ],
)
def test_safety_and_policy_stops_map_to_content_filter(reason: str) -> None:
    assert to_openai_finish_reason(reason, has_tool_calls=False) == "content_filter"


@pytest.mark.parametrize(
    "reason",
    ["OTHER", "LANGUAGE", "FINISH_REASON_UNSPECIFIED", "MALFORMED_FUNCTION_CALL", "NEW_REASON"],
)
def test_other_reasons_map_to_stop(reason: str) -> None:
    assert to_openai_finish_reason(reason, has_tool_calls=False) == "stop"


@pytest.mark.parametrize(
    "reason",
    [
        "MALFORMED_FUNCTION_CALL",
        "MISSING_THOUGHT_SIGNATURE",
        # issue 11, item 13: these were an empty "stop" success
        "UNEXPECTED_TOOL_CALL",
        "TOO_MANY_TOOL_CALLS",
        "MALFORMED_RESPONSE",
    ],
)
def test_failure_reasons_without_output_are_failures(reason: str) -> None:
    assert is_failure_without_output(reason, produced_output=False)


def test_failure_reason_after_output_is_not_a_failure() -> None:
    assert not is_failure_without_output("MALFORMED_FUNCTION_CALL", produced_output=True)
    assert not is_failure_without_output("STOP", produced_output=False)
