"""Token estimates for upstreams that report no usage (marked `estimated` when billed)."""

from __future__ import annotations

from collections.abc import Iterable


def estimate_text_tokens(text: str) -> int:
    """About four characters a token, at least one for non-empty text."""
    return (len(text) + 3) // 4 if text else 0


def estimate_many(texts: Iterable[str]) -> int:
    """The summed estimate of several texts."""
    return sum(estimate_text_tokens(t) for t in texts)
