"""stop_reason -> finish_reason (PITFALLS 3)."""

from __future__ import annotations

import pytest

from workers.providers.anthropic.finish import to_openai_finish_reason


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("refusal", "content_filter"),
        ("some_future_reason", "stop"),
    ],
)
def test_stop_reason_maps_to_documented_finish_reason(stop_reason: str, expected: str) -> None:
    assert to_openai_finish_reason(stop_reason, has_tool_calls=False) == expected


def test_tool_use_with_tool_calls_maps_to_tool_calls() -> None:
    assert to_openai_finish_reason("tool_use", has_tool_calls=True) == "tool_calls"


def test_tool_use_without_visible_tool_calls_maps_to_stop_for_json_mode() -> None:
    assert to_openai_finish_reason("tool_use", has_tool_calls=False) == "stop"


def test_max_tokens_with_tool_calls_stays_length() -> None:
    assert to_openai_finish_reason("max_tokens", has_tool_calls=True) == "length"


def test_missing_stop_reason_is_stop_or_tool_calls() -> None:
    assert to_openai_finish_reason(None, has_tool_calls=False) == "stop"
    assert to_openai_finish_reason(None, has_tool_calls=True) == "tool_calls"
