"""Anthropic errors -> our public errors (DESIGN.md "upstream errors by cause").

Anthropic's body is `{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}`
(https://docs.claude.com/en/api/errors). The same `error` object arrives as an SSE `error`
event after HTTP 200, where there is no status: `STATUS_OF_TYPE` gives the status the
type documents, so a mid-stream error maps exactly like the same error before the stream.

    authentication_error 401, permission_error 403, billing_error 402,
    400 "credit balance is too low"            -> 502 (our key/account, never the caller's)
    rate_limit_error 429                       -> 429, retry-after passed on
    invalid_request_error 400 -> 400, request_too_large 413 -> 413, upstream message kept
    not_found_error 404 (our configured model), api_error 500,
    invalid_request_error "prompt is too long" -> 400 context_length_exceeded
    overloaded_error 529                       -> 502 upstream_overloaded (529 again on /v1/messages)
    other 5xx                                  -> 502
    timeout_error 504                          -> 504
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from gateway.contracts.errors import upstream_error
from workers.providers.anthropic.schema import ERROR_DECODER, ErrorDetail
from workers.providers.base import UpstreamError
from workers.providers.upstream_errors import by_cause, counts

PROVIDER_NAME = "anthropic"

STATUS_OF_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

_ACCOUNT_TYPES = frozenset({"authentication_error", "permission_error", "billing_error"})
_MAX_MESSAGE = 2000
# "prompt is too long: 250000 tokens > 200000 maximum"
_OVERFLOW = re.compile(r"prompt is too long(?::\s*(?P<tokens>\d+) tokens > (?P<maximum>\d+) maximum)?", re.I)


def _is_our_account(kind: str | None, message: str) -> bool:
    """True when the failure is about our key or our Anthropic account, not the request."""
    return kind in _ACCOUNT_TYPES or "credit balance" in message.lower()


def from_error_detail(
    status: int, detail: ErrorDetail, headers: Mapping[str, str] | None = None
) -> UpstreamError:
    """Our error for one Anthropic `error` object seen with HTTP `status`."""
    message = f"{detail.type}: {detail.message}" if detail.message else detail.type
    return by_cause(
        PROVIDER_NAME,
        status,
        message,
        headers or {},
        our_credentials=_is_our_account(detail.type, detail.message),
        rate_limited=detail.type == "rate_limit_error",
        caller_input=detail.type in ("invalid_request_error", "request_too_large"),
        overflow=counts(_OVERFLOW, detail.message) if detail.type == "invalid_request_error" else None,
        overloaded=detail.type == "overloaded_error" or status == 529,
    )


def from_error_event(detail: ErrorDetail) -> UpstreamError:
    """Our error for an `error` event inside a 200 stream (status from its type)."""
    return from_error_detail(STATUS_OF_TYPE.get(detail.type, 500), detail)


def from_response(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """Our error for a non-2xx Anthropic response; a body that is not Anthropic's shape
    (a proxy's HTML page, an empty body) keeps its text as the message."""
    try:
        detail = ERROR_DECODER.decode(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        detail = None
    if detail is None:
        text = body.decode("utf-8", "replace").strip()[:_MAX_MESSAGE] or f"HTTP {status}"
        return by_cause(PROVIDER_NAME, status, text, headers)
    return from_error_detail(status, detail, headers)


def malformed(what: str) -> UpstreamError:
    """502 for an upstream answer we cannot read (never the caller's fault)."""
    return UpstreamError.of(upstream_error(f"{PROVIDER_NAME} upstream sent {what}"))
