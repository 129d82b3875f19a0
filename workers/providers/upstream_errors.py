"""Upstream error status -> our public status, by cause (DESIGN.md "Clarifications").

Shared by every provider kind: each provider extracts the upstream's message and kind
from its own error body, then asks `by_cause` which of our statuses it becomes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gateway.contracts.errors import (
    context_length_exceeded,
    invalid_request,
    rate_limited as rate_limit_exceeded,
    too_large,
    upstream_auth_error,
    upstream_error,
    upstream_overloaded,
    upstream_timeout,
)
from workers.providers.base import UpstreamError


def retry_after_of(headers: Mapping[str, str]) -> str | None:
    """The upstream's `retry-after` header, passed on to our caller."""
    for name in ("retry-after", "Retry-After"):
        if name in headers:
            return headers[name]
    return None


def counts(pattern: re.Pattern[str], message: str) -> tuple[int | None, int | None] | None:
    """(tokens, maximum) of an overflow message matching `pattern` (named groups `tokens`
    and `maximum`, either may be absent); None when it does not match."""
    found = pattern.search(message)
    if found is None:
        return None
    tokens, maximum = found.groupdict().get("tokens"), found.groupdict().get("maximum")
    return (int(tokens) if tokens else None, int(maximum) if maximum else None)


def by_cause(
    provider: str,
    status: int,
    message: str,
    headers: Mapping[str, str],
    *,
    our_credentials: bool = False,
    rate_limited: bool = False,
    caller_input: bool = False,
    param: str | None = None,
    overflow: tuple[int | None, int | None] | None = None,
    overloaded: bool = False,
) -> UpstreamError:
    """Map one upstream failure to our table, keeping the upstream's message.

    - the upstream refusing our provider key (401/403, or `our_credentials`) is our
      configuration error: 502, never the caller's 401/403;
    - 429 / `rate_limited`: 429 rate_limit_exceeded with `retry-after` passed on;
    - 413: 413 request_too_large; 400/422 that name the caller's input: 400;
    - `overflow` (the prompt's tokens and the window, as far as the upstream said):
      400 context_length_exceeded, whatever the upstream's own status;
    - 408/504: 504; `overloaded` (Anthropic's 529): 502 upstream_overloaded; anything
      else (5xx, 404 of an upstream model): 502.
    """
    retry_after = retry_after_of(headers)
    text = f"{provider} upstream error ({status}): {message}"
    if our_credentials or status in (401, 403):
        return UpstreamError.of(
            upstream_auth_error(f"{provider} upstream refused the gateway's credentials ({status}): {message}"))
    if overflow is not None:
        return UpstreamError.of(context_length_exceeded(text, *overflow, param=param or "messages"))
    if rate_limited or status == 429:
        return UpstreamError.of(rate_limit_exceeded(text, retry_after))
    if status == 413:
        return UpstreamError.of(too_large(text, param))
    if caller_input or status in (400, 422):
        return UpstreamError.of(invalid_request(text, param))
    if status in (408, 504):
        return UpstreamError.of(upstream_timeout(text))
    if overloaded:
        return UpstreamError.of(upstream_overloaded(text, retry_after))
    return UpstreamError.of(upstream_error(text, retry_after))
