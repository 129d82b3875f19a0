"""Gemini `usageMetadata` -> OpenAI `usage` (the numbers the ledger bills).

https://ai.google.dev/api/generate-content#UsageMetadata:
- `promptTokenCount` already includes `cachedContentTokenCount`; tool-use prompt tokens
  (`toolUsePromptTokenCount`, server-side tools) are prompt input too;
- thinking is billed as output: completion = `candidatesTokenCount` + `thoughtsTokenCount`,
  with the thoughts reported as `reasoning_tokens`;
- total = prompt + completion (which is Google's `totalTokenCount`).
On streams the metadata is cumulative: convert the last one, never a sum.
"""

from __future__ import annotations

from gateway.contracts.openai import CompletionTokensDetails, PromptTokensDetails, Usage
from workers.providers.gemini.schema import UsageMetadata


def to_openai_usage(meta: UsageMetadata | None) -> Usage:
    """The OpenAI usage of one response (zeros when Google sent none)."""
    if meta is None:
        return Usage()
    prompt = meta.prompt_token_count + meta.tool_use_prompt_token_count
    completion = meta.candidates_token_count + meta.thoughts_token_count
    cached = min(meta.cached_content_token_count, prompt)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=cached),
        completion_tokens_details=CompletionTokensDetails(
            reasoning_tokens=meta.thoughts_token_count
        ),
    )
