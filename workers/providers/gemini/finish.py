"""Gemini `finishReason` -> OpenAI `finish_reason`.

Table: https://ai.google.dev/api/generate-content#FinishReason (conversion-reference.md 3.5).
Gemini reports STOP even when the model made function calls, so the mapping needs to know
whether the candidate made any (Vercel's `map-google-finish-reason.ts` does the same).
"""

from __future__ import annotations

# Safety and policy stops: the output was cut or withheld by a filter.
CONTENT_FILTER_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)

# Stops that mean the model failed to produce a usable answer (FinishReason in
# ../specs' generativelanguage v1beta: an invalid function call, a tool call with no tools
# enabled, too many consecutive tool calls, a missing thought signature, a malformed
# response); with no output at all they are an upstream error (502 with Google's
# finishMessage, billed with its usageMetadata), never an empty "stop" success.
FAILURE_REASONS = frozenset(
    {
        "MALFORMED_FUNCTION_CALL",
        "MISSING_THOUGHT_SIGNATURE",
        "UNEXPECTED_TOOL_CALL",
        "TOO_MANY_TOOL_CALLS",
        "MALFORMED_RESPONSE",
    }
)


def to_openai_finish_reason(reason: str, has_tool_calls: bool) -> str:
    """The OpenAI finish_reason for a candidate's Gemini finishReason.

    STOP -> `tool_calls` when the candidate made function calls, else `stop`;
    MAX_TOKENS -> `length`; safety/recitation/blocklist stops -> `content_filter`;
    anything else (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, ...) -> `stop`.
    """
    if reason == "MAX_TOKENS":
        return "length"
    if reason in CONTENT_FILTER_REASONS:
        return "content_filter"
    if has_tool_calls:
        return "tool_calls"
    return "stop"


def is_failure_without_output(reason: str, produced_output: bool) -> bool:
    """True when a candidate stopped on a failure reason and produced nothing usable."""
    return reason in FAILURE_REASONS and not produced_output
