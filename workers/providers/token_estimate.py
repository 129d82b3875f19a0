"""Token estimates of chat text for upstreams that report no usage (marked `estimated` when
billed), at the characters a token of gateway/runtime/estimate.py."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.contracts.openai import AssistantMessage, ChatRequest, ToolCall
from gateway.runtime.estimate import tokens_from_chars as estimate_from_chars

__all__ = ["estimate_chat_prompt", "estimate_from_chars", "estimate_many", "estimate_text_tokens"]


def estimate_text_tokens(text: str) -> int:
    """About four characters a token, at least one for non-empty text."""
    return estimate_from_chars(len(text))


def estimate_many(texts: Iterable[str]) -> int:
    """The summed estimate of several texts."""
    return sum(estimate_text_tokens(t) for t in texts)


def estimate_chat_prompt(req: ChatRequest) -> int:
    """A prompt estimate from the text of every message (tool calls included)."""
    texts: list[str] = []
    for message in req.messages:
        content = message.content
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(getattr(part, "text", "") for part in content)
        if isinstance(message, AssistantMessage) and isinstance(message.tool_calls, list):
            texts.extend(
                call.function.arguments if isinstance(call, ToolCall) else call.custom.input
                for call in message.tool_calls
            )
    return estimate_many(texts)
