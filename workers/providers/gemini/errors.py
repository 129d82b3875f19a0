"""Gemini error bodies -> our public error table (DESIGN.md "Clarifications").

Google's body is a `google.rpc.Status`: `{"error": {"code", "message", "status",
"details": [...]}}` (https://ai.google.dev/gemini-api/docs/troubleshooting). The cause
decides our status, through the shared `by_cause`:

- our key refused (ErrorInfo reason API_KEY_INVALID and friends, PERMISSION_DENIED,
  UNAUTHENTICATED) -> 502, never the caller's 401/403;
- FAILED_PRECONDITION (billing, unsupported region: our account) -> 502;
- RESOURCE_EXHAUSTED -> 429, RetryInfo.retryDelay passed on as `retry-after` seconds;
- INVALID_ARGUMENT (the request we built from the caller's input) -> 400; "The input
  token count (N) exceeds the maximum number of tokens allowed (M)" -> 400
  context_length_exceeded;
- DEADLINE_EXCEEDED -> 504; everything else (NOT_FOUND model, INTERNAL, UNAVAILABLE) -> 502.
Google's message is always kept.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import msgspec

from gateway.contracts.errors import invalid_request, upstream_error
from workers.providers.base import UpstreamError
from workers.providers.gemini.schema import ERROR_DECODER, ErrorBody, ErrorStatus, PromptFeedback
from workers.providers.upstream_errors import by_cause, counts, retry_after_of

PROVIDER_NAME = "gemini"
_OVERFLOW = re.compile(r"input token count \(?(?P<tokens>\d+)\)? exceeds the maximum number of tokens"
                       r"(?: allowed \(?(?P<maximum>\d+)\)?)?", re.I)

# ErrorInfo reasons that mean Google refused the gateway's own key or project.
_KEY_REASONS = frozenset(
    {
        "API_KEY_INVALID",
        "API_KEY_EXPIRED",
        "API_KEY_SERVICE_BLOCKED",
        "API_KEY_HTTP_REFERRER_BLOCKED",
        "API_KEY_IP_ADDRESS_BLOCKED",
        "SERVICE_DISABLED",
        "CONSUMER_SUSPENDED",
        "BILLING_DISABLED",
    }
)
_KEY_STATUSES = frozenset({"PERMISSION_DENIED", "UNAUTHENTICATED"})
_STATUS_CODES = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def from_response(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """The UpstreamError for a whole Gemini error response (HTTP status >= 400)."""
    try:
        decoded = ERROR_DECODER.decode(body)
    except msgspec.DecodeError:
        decoded = None
    if isinstance(decoded, list):
        decoded = decoded[0] if decoded else None
    if isinstance(decoded, ErrorBody):
        return from_status(decoded.error, headers, http_status=status)
    text = body.decode("utf-8", "replace").strip()[:2000] or f"HTTP {status}"
    return by_cause(PROVIDER_NAME, status, text, headers)


def from_status(
    error: ErrorStatus, headers: Mapping[str, str], http_status: int | None = None
) -> UpstreamError:
    """The UpstreamError for one `google.rpc.Status` (a response body or a stream event)."""
    status = http_status or error.code or _STATUS_CODES.get(error.status, 500)
    message = f"{error.status}: {error.message}" if error.status else error.message
    message = message or f"HTTP {status}"
    reasons = {d.reason for d in error.details if d.reason}
    headers = _with_retry_delay(headers, error)
    if reasons & _KEY_REASONS or error.status in _KEY_STATUSES:
        return by_cause(PROVIDER_NAME, status, message, headers, our_credentials=True)
    if error.status == "FAILED_PRECONDITION":
        return UpstreamError.of(upstream_error(f"{PROVIDER_NAME} upstream error ({status}): {message}"))
    if error.status == "RESOURCE_EXHAUSTED":
        return by_cause(PROVIDER_NAME, status, message, headers, rate_limited=True)
    if error.status == "INVALID_ARGUMENT":
        return by_cause(PROVIDER_NAME, 400, message, headers, caller_input=True,
                        overflow=counts(_OVERFLOW, error.message))
    if error.status == "DEADLINE_EXCEEDED":
        return by_cause(PROVIDER_NAME, 504, message, headers)
    # NOTE: by_cause makes NOT_FOUND (the configured upstream model) a 502: the caller's
    # model id was valid for us.
    return by_cause(PROVIDER_NAME, status, message, headers)


def prompt_blocked(feedback: PromptFeedback) -> UpstreamError:
    """400 content_filter: Gemini refused the prompt itself and returned no candidates."""
    message = f"Gemini blocked the prompt (blockReason: {feedback.block_reason})"
    if feedback.block_reason_message:
        message = f"{message}: {feedback.block_reason_message}"
    return UpstreamError.of(invalid_request(f"{message}.", None, "content_filter"))


def malformed(message: str) -> UpstreamError:
    """502 for an upstream answer we cannot read (not JSON, wrong shape, cut short)."""
    return UpstreamError.of(upstream_error(f"{PROVIDER_NAME} upstream error: {message}"))


def retry_delay_seconds(error: ErrorStatus) -> str | None:
    """RetryInfo.retryDelay (a protobuf Duration such as "34.4s") in whole seconds, rounded up."""
    for detail in error.details:
        delay = detail.retry_delay.strip()
        if delay.endswith("s"):
            try:
                seconds = float(delay[:-1])
            except ValueError:
                continue
            return str(max(1, math.ceil(seconds)))
    return None


def _with_retry_delay(headers: Mapping[str, str], error: ErrorStatus) -> Mapping[str, str]:
    if retry_after_of(headers) is not None:
        return headers
    seconds = retry_delay_seconds(error)
    return {**headers, "retry-after": seconds} if seconds else headers
