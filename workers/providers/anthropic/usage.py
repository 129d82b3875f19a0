"""Anthropic usage -> OpenAI usage.

"Total input tokens in a request is the summation of `input_tokens`,
`cache_creation_input_tokens`, and `cache_read_input_tokens`"
(https://docs.claude.com/en/docs/build-with-claude/prompt-caching#tracking-cache-performance),
so the caller's `prompt_tokens` is that sum, `cached_tokens` the cache reads (never
more than `prompt_tokens`) and `cache_write_tokens` the cache writes (priced apart). `output_tokens` already counts thinking.

In a stream, `message_start`'s `output_tokens` is a placeholder (1 to 3, whatever the
reply's length); the real count comes only with `message_delta`. The tally reports no
output until then, so the service estimates the output of a stream cut before it (client
gone, upstream dropped, `error` event) from what was streamed, and marks it estimated.
"""

from __future__ import annotations

from dataclasses import dataclass

from msgspec import UNSET

from gateway.contracts.openai import PromptTokensDetails, Usage
from workers.providers.anthropic.schema import AnthropicUsage, DeltaUsage


@dataclass(slots=True)
class UsageTally:
    """Usage of one reply as a stream reveals it: `message_start`, then `message_delta`s."""

    input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    output_tokens: int = 0  # 0 until a `message_delta` reports the real count

    def start(self, usage: AnthropicUsage) -> None:
        """Take the input counts of `message_start` (its `output_tokens` is a placeholder)."""
        self.input_tokens = usage.input_tokens
        self.cache_creation_input_tokens = usage.cache_creation_input_tokens or 0
        self.cache_read_input_tokens = usage.cache_read_input_tokens or 0

    def update(self, usage: DeltaUsage) -> None:
        """Take each field a `message_delta` reports (cumulative, so replace, never add)."""
        if usage.output_tokens is not None:
            self.output_tokens = usage.output_tokens
        if usage.input_tokens is not None:
            self.input_tokens = usage.input_tokens
        if usage.cache_creation_input_tokens is not None:
            self.cache_creation_input_tokens = usage.cache_creation_input_tokens
        if usage.cache_read_input_tokens is not None:
            self.cache_read_input_tokens = usage.cache_read_input_tokens

    def to_openai(self) -> Usage:
        """The OpenAI usage of what was counted so far."""
        prompt = self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=self.output_tokens,
            total_tokens=prompt + self.output_tokens,
            prompt_tokens_details=PromptTokensDetails(
                cached_tokens=self.cache_read_input_tokens,
                cache_write_tokens=self.cache_creation_input_tokens or UNSET,
            ),
        )


def to_openai_usage(usage: AnthropicUsage) -> Usage:
    """The OpenAI usage of a whole (non-stream) reply."""
    tally = UsageTally(output_tokens=usage.output_tokens)
    tally.start(usage)
    return tally.to_openai()
