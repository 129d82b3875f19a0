"""Anthropic `stop_reason` -> OpenAI `finish_reason`.

Values: https://docs.claude.com/en/api/messages (response `stop_reason`); meanings:
https://docs.claude.com/en/api/handling-stop-reasons.
"""

from __future__ import annotations

# NOTE: `tool_use` is not in this table: it depends on whether the reply carried tool
# calls the caller sees (it does not in JSON mode, where the forced tool's input is the
# content), see `to_openai_finish_reason`.
FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",  # a server-tool loop paused; only with server tools
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


def to_openai_finish_reason(stop_reason: str | None, has_tool_calls: bool) -> str:
    """The finish_reason for a reply that stopped for `stop_reason`.

    `tool_use` becomes `tool_calls` only when the caller got tool calls (in JSON mode the
    forced tool is the answer, so it is `stop`); an unknown or missing reason is `stop`.
    """
    if stop_reason == "tool_use":
        return "tool_calls" if has_tool_calls else "stop"
    if stop_reason is None:
        return "tool_calls" if has_tool_calls else "stop"
    return FINISH_REASONS.get(stop_reason, "stop")
