"""Upstream error status -> our public status, by cause (DESIGN.md "Clarifications").

Shared by every provider kind: each provider extracts the upstream's message and kind
from its own error body, then asks `by_cause` which of our statuses it becomes.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.contracts.errors import OpenAIError
from workers.providers.base import UpstreamError


def retry_after_of(headers: Mapping[str, str]) -> str | None:
    """The upstream's `retry-after` header, passed on to our caller."""
    for name in ("retry-after", "Retry-After"):
        if name in headers:
            return headers[name]
    return None


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
) -> UpstreamError:
    """Map one upstream failure to our table, keeping the upstream's message.

    - the upstream refusing our provider key (401/403, or `our_credentials`) is our
      configuration error: 502, never the caller's 401/403;
    - 429 / `rate_limited`: 429 rate_limit_exceeded with `retry-after` passed on;
    - 413: 413 request_too_large; 400/422 that name the caller's input: 400;
    - 408/504: 504; anything else (5xx, 404 of an upstream model, overloaded): 502.
    """
    retry_after = retry_after_of(headers)
    text = f"{provider} upstream error ({status}): {message}"
    if our_credentials or status in (401, 403):
        return UpstreamError(
            502,
            OpenAIError(
                f"{provider} upstream refused the gateway's credentials ({status}): {message}",
                "upstream_error",
                None,
                "upstream_auth_error",
            ),
        )
    if rate_limited or status == 429:
        return UpstreamError(
            429, OpenAIError(text, "rate_limit_error", None, "rate_limit_exceeded"), retry_after
        )
    if status == 413:
        return UpstreamError(413, OpenAIError(text, "invalid_request_error", param, "request_too_large"))
    if caller_input or status in (400, 422):
        return UpstreamError(400, OpenAIError(text, "invalid_request_error", param, None))
    if status in (408, 504):
        return UpstreamError(504, OpenAIError(text, "timeout_error", None, "upstream_timeout"))
    return UpstreamError(502, OpenAIError(text, "upstream_error", None, "upstream_error"), retry_after)
