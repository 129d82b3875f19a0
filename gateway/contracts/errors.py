"""The public error contract: one body shape and the status/type/code table.

Every error any process produces ends up as `{"error": {message, type, param, code}}`
with one of the statuses below. Gateway and workers build errors only through the
constructors below (tests/contracts/test_errors.py fails on an `APIError(...)` or
`OpenAIError(...)` written anywhere else), so the table lives in one place.

    400 invalid_request_error          (param names the offending field; code null,
                                        invalid_json or content_filter)
    401 invalid_request_error / invalid_api_key
    403 permission_error / model_not_allowed
    400 invalid_request_error / invalid_http_request (a request gunicorn cannot parse)
    400 invalid_request_error / context_length_exceeded (the prompt overflows the model's window)
    404 invalid_request_error / model_not_found, model_unavailable, not_found
    405 invalid_request_error / method_not_allowed
    408 invalid_request_error / request_timeout
    413 invalid_request_error / request_too_large
    414 invalid_request_error / request_line_too_long
    417 invalid_request_error / expectation_failed
    431 invalid_request_error / request_headers_too_large
    429 rate_limit_error / rate_limit_exceeded, insufficient_quota / insufficient_quota
    499 invalid_request_error / client_closed_request (access log only: nobody receives it)
    500 server_error / internal_error
    502 upstream_error / upstream_error, upstream_auth_error, upstream_unreachable,
                         upstream_config_error, upstream_overloaded, worker_lost
    501 invalid_request_error / not_implemented (a transfer coding gunicorn does not take)
    503 service_unavailable / no_worker_available, too_many_connections, bus_unavailable, worker_busy,
                              shutting_down
    504 timeout_error / upstream_timeout

The README's error table lists the same; tests/contracts/test_errors.py checks that every
code built anywhere in the code base is in it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import msgspec
from msgspec import Struct


class OpenAIError(Struct):
    """The inner object of an OpenAI error body."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(Struct):
    """`{"error": {...}}`, the body of every error response and mid-stream error event."""

    error: OpenAIError


class APIError(Exception):
    """An error with its HTTP status, raised anywhere and rendered once per process.

    `retry_after` (seconds, as the header text) is passed on to the client for 429/502/503.
    """

    def __init__(
        self,
        status: int,
        error: OpenAIError,
        retry_after: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error.message)
        self.status = status
        self.error = error
        self.retry_after = retry_after
        self.headers = headers or {}

    def body(self) -> bytes:
        """The JSON error body."""
        return ERROR_ENCODER.encode(ErrorBody(self.error))


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    """400: the caller's request is wrong; `param` names the field."""
    return APIError(400, OpenAIError(message, "invalid_request_error", param, code))


def invalid_api_key(message: str = "Invalid or missing API key.") -> APIError:
    """401: no key, unknown key or disabled key."""
    return APIError(401, OpenAIError(message, "invalid_request_error", None, "invalid_api_key"))


def model_not_allowed(model: str) -> APIError:
    """403: the key may not use this model."""
    return APIError(
        403,
        OpenAIError(
            f"This API key is not allowed to use the model '{model}'.",
            "permission_error",
            "model",
            "model_not_allowed",
        ),
    )


def model_unpriced(model: str, entry: str) -> APIError:
    """400: a model served by a wildcard entry (`claude-*`) that sets no price: it cannot
    be billed, and is never served at $0 (issue 21)."""
    return APIError(
        400,
        OpenAIError(
            f"The model '{model}' (served by the wildcard model entry '{entry}') has no price on this gateway, "
            "so it cannot be billed; the gateway's operator must set the entry's `price`.",
            "invalid_request_error",
            "model",
            "model_unpriced",
        ),
    )


MODELS_NAMED_IN_404 = 20
"""How many usable models a 404 names; `GET /v1/models` lists them all."""


def model_not_found(model: str, usable: Sequence[str] = (), kind: str | None = None) -> APIError:
    """404: no such model in the config (or one the key may not see).

    `usable` are the models the key may use (of `kind`, for the endpoint called); the
    first few are named so a new user sees what to ask for. Only the key's own models,
    so a 404 never reveals the others.
    """
    which = f"{kind.capitalize()} models" if kind else "Models"
    named = ", ".join(f"'{m}'" for m in usable[:MODELS_NAMED_IN_404])
    if len(usable) > MODELS_NAMED_IN_404:
        named += f" and {len(usable) - MODELS_NAMED_IN_404} more"
    hint = (
        f" {which} this key may use: {named} (GET /v1/models lists them)."
        if usable
        else f" This key may not use any {kind + ' ' if kind else ''}model."
    )
    return APIError(
        404,
        OpenAIError(
            f"The model '{model}' does not exist or you do not have access to it.{hint}",
            "invalid_request_error",
            "model",
            "model_not_found",
        ),
    )


def model_unavailable(model: str, provider: str, variable: str) -> APIError:
    """404: a configured model whose provider's secret is missing from the workers'
    environment. A 4xx because clients (Codex among them) retry every 5xx, and retrying
    cannot help until the operator sets the variable."""
    return APIError(404, OpenAIError(
        f"The model '{model}' is unavailable: its provider '{provider}' has no API key; the gateway's "
        f"operator must set {variable} in the workers' environment.",
        "invalid_request_error", "model", "model_unavailable"))


def not_found(message: str) -> APIError:
    """404 for an unknown path."""
    return APIError(404, OpenAIError(message, "invalid_request_error", None, "not_found"))


def method_not_allowed(message: str) -> APIError:
    """405 for a known path with the wrong method."""
    return APIError(405, OpenAIError(message, "invalid_request_error", None, "method_not_allowed"))


def request_too_large(limit: int) -> APIError:
    """413: the body is over the configured limit."""
    return too_large(f"Request body is larger than the limit of {limit} bytes.")


def request_too_large_for_bus(limit: int) -> APIError:
    """413: the request does not fit one message of the bus (its server's max_payload)."""
    return too_large(f"The request is larger than the message bus accepts ({limit} bytes); "
                     "the operator can raise max_payload on the NATS server.")


def too_large(message: str, param: str | None = None) -> APIError:
    """413 request_too_large (ours, or the upstream's refusal of the caller's request)."""
    return APIError(413, OpenAIError(message, "invalid_request_error", param, "request_too_large"))


def bad_http_request(message: str) -> APIError:
    """400 invalid_http_request: the HTTP message itself is broken (a malformed body)."""
    return APIError(400, OpenAIError(message, "invalid_request_error", None, "invalid_http_request"))


def http_error(status: int, message: str) -> APIError:
    """Any other status the HTTP framework raised, with its own words and no code."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return APIError(status, OpenAIError(message, kind, None, None))


def client_closed() -> APIError:
    """499: the caller hung up (the access log's status; nobody receives it)."""
    return APIError(499, OpenAIError("The client closed the request.", "invalid_request_error", None,
                                     "client_closed_request"))


def relayed(status: int, error: OpenAIError, retry_after: str | None = None,
            headers: dict[str, str] | None = None) -> APIError:
    """An error built by another process (a worker's error frame) or rewritten (redacted),
    raised again as it is: its body was made by a constructor of this table."""
    return APIError(status, error, retry_after, headers)


def _shown_id(response_id: str) -> str:
    return response_id if len(response_id) <= 100 else response_id[:100] + "..."


def response_not_found(response_id: str) -> APIError:
    """404 for a response id this key has no stored response under."""
    return APIError(404, OpenAIError(f"Response with id '{_shown_id(response_id)}' not found.",
                                     "invalid_request_error", "response_id", "response_not_found"))


def previous_response_not_found(response_id: str) -> APIError:
    """404: no stored response of this key has that id (same words as the gateway's GET)."""
    return APIError(404, OpenAIError(f"Previous response with id '{_shown_id(response_id)}' not found.",
                                     "invalid_request_error", "previous_response_id", "previous_response_not_found"))


def store_unavailable() -> APIError:
    """503: a continuation was asked for but this worker has no store (no bus)."""
    return APIError(503, OpenAIError("Stored responses are not available on this worker.", "service_unavailable",
                                     "previous_response_id", "store_unavailable"))


def rate_limited(message: str, retry_after: str | None = None) -> APIError:
    """429 rate_limit_exceeded (ours or the upstream's)."""
    return APIError(
        429, OpenAIError(message, "rate_limit_error", None, "rate_limit_exceeded"), retry_after
    )


def insufficient_quota(message: str) -> APIError:
    """429 insufficient_quota: the key's balance is spent."""
    return APIError(429, OpenAIError(message, "insufficient_quota", None, "insufficient_quota"))


def internal_error(message: str = "The gateway failed to handle the request.") -> APIError:
    """500: our bug."""
    return APIError(500, OpenAIError(message, "server_error", None, "internal_error"))


def upstream_error(message: str, retry_after: str | None = None) -> APIError:
    """502: the upstream failed or refused our configuration; its message is kept."""
    return APIError(502, OpenAIError(message, "upstream_error", None, "upstream_error"), retry_after)


def upstream_overloaded(message: str, retry_after: str | None = None) -> APIError:
    """502: the upstream is overloaded (Anthropic's 529); /v1/messages answers it as
    Anthropic's own 529 `overloaded_error` (gateway/dialects/messages.py)."""
    return APIError(502, OpenAIError(message, "upstream_error", None, "upstream_overloaded"), retry_after)


OVERFLOW_HEADLINE = "prompt is too long"


def context_length_exceeded(detail: str, tokens: int | None, maximum: int | None,
                            param: str | None = "messages") -> APIError:
    """400: the prompt does not fit the model's context window, whoever said so.

    Each client recognises its own form: OpenAI's SDK users and Codex the code, Claude
    Code the words Anthropic uses ("prompt is too long: N tokens > M maximum", which it
    parses to compact). So the message starts with those words, then gives the
    upstream's own (`detail`) in parentheses; `overflow_headline` cuts them off.
    """
    head = f"{OVERFLOW_HEADLINE}: {tokens} tokens > {maximum} maximum" if tokens and maximum else OVERFLOW_HEADLINE
    return APIError(400, OpenAIError(f"{head} ({detail})", "invalid_request_error", param, "context_length_exceeded"))


def overflow_headline(message: str) -> str:
    """The Anthropic-worded start of a `context_length_exceeded` message."""
    return message.split(" (", 1)[0]


def upstream_auth_error(message: str) -> APIError:
    """502: the upstream refused the gateway's own credentials (never the caller's 401/403)."""
    return APIError(502, OpenAIError(message, "upstream_error", None, "upstream_auth_error"))


def upstream_config_error(message: str) -> APIError:
    """502: the operator's configuration is incomplete (a missing secret or model setting)."""
    return APIError(502, OpenAIError(message, "upstream_error", None, "upstream_config_error"))


def upstream_unreachable(message: str) -> APIError:
    """502: the upstream could not be connected to."""
    return APIError(502, OpenAIError(message, "upstream_error", None, "upstream_unreachable"))


def worker_lost(message: str = "The worker serving this request stopped responding (no heartbeat).") -> APIError:
    """502: the worker went silent (died) with the job; what was relayed is billed as an estimate."""
    return APIError(502, OpenAIError(message, "upstream_error", None, "worker_lost"))


def no_worker(message: str) -> APIError:
    """503: no worker is subscribed for the provider."""
    return APIError(
        503, OpenAIError(message, "service_unavailable", None, "no_worker_available"), "1"
    )


def bus_unavailable(message: str = "The gateway lost its connection to the message bus; retry shortly.") -> APIError:
    """503: the gateway is not connected to NATS (an outage): answered at once, never hung."""
    return APIError(
        503, OpenAIError(message, "service_unavailable", None, "bus_unavailable"), "1"
    )


def worker_busy(provider: str) -> APIError:
    """503: the worker's slots and queue for this provider are full (refused at once)."""
    return APIError(
        503,
        OpenAIError(f"The workers of provider '{provider}' are at capacity; retry shortly.",
                    "service_unavailable", None, "worker_busy"),
        "1",
    )


def shutting_down(message: str = "The server is shutting down; retry the request.") -> APIError:
    """503: a gateway or worker stopping cut the request at its grace, or refused a new one."""
    return APIError(503, OpenAIError(message, "service_unavailable", None, "shutting_down"), "1")


def deployments_cooling(model: str, seconds: float) -> APIError:
    """503: every deployment of the model is cooling down after upstream failures (issue 16)."""
    wait = max(1, math.ceil(seconds))
    return APIError(
        503,
        OpenAIError(f"Every deployment of the model '{model}' is cooling down after upstream failures; "
                    f"retry after {wait} s.", "service_unavailable", None, "deployments_cooling_down"),
        str(wait),
    )


def upstream_timeout(message: str) -> APIError:
    """504: the upstream (or the worker) did not answer in time."""
    return APIError(504, OpenAIError(message, "timeout_error", None, "upstream_timeout"))


# ---------------------------------------------------------------- HTTP server errors
# Errors of the HTTP layer itself (issue 14, items 2 and 7): slow bodies, a full process,
# and the requests gunicorn refuses before the app sees them.


def request_timeout(message: str) -> APIError:
    """408: the request body did not arrive within `[gateway] body_timeout_s`."""
    return APIError(408, OpenAIError(message, "invalid_request_error", None, "request_timeout"))


def too_many_connections(limit: int) -> APIError:
    """503: the gateway process holds `[gateway] max_connections` connections already."""
    return APIError(
        503,
        OpenAIError(
            f"The gateway process is at its limit of {limit} open connections; retry shortly.",
            "service_unavailable",
            None,
            "too_many_connections",
        ),
        "1",
    )


# What gunicorn answers itself, by its status: our type and code, and a message prefix.
_SERVER_ERRORS = {
    400: OpenAIError("Bad request", "invalid_request_error", None, "invalid_http_request"),
    414: OpenAIError("Request line too long", "invalid_request_error", None, "request_line_too_long"),
    417: OpenAIError("Expectation failed", "invalid_request_error", None, "expectation_failed"),
    431: OpenAIError("Request header fields too large", "invalid_request_error", None,
                     "request_headers_too_large"),
    501: OpenAIError("Not implemented", "invalid_request_error", None, "not_implemented"),
}


def server_error(status: int, detail: str) -> APIError:
    """An error gunicorn raised while parsing (431, 414, 400...): our shape, its status.

    `detail` is gunicorn's own description of the caller's request (no secret of ours).
    """
    known = _SERVER_ERRORS.get(status)
    if known is None:
        if status >= 500:
            return internal_error()
        return APIError(status, OpenAIError(detail or "Request refused.", "invalid_request_error"))
    message = f"{known.message}: {detail}" if detail else f"{known.message}."
    return APIError(status, OpenAIError(message, known.type, None, known.code))


_PATH_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_AT_PATH = re.compile(r" - at `\$([^`]*)`$")
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")


def param_from_validation_error(message: str) -> str | None:
    """Turn a msgspec validation message into OpenAI's `param` (`messages[0].content`).

    msgspec puts the location last (`... - at `$.messages[0]``); a missing field is named
    in the message itself and joined to that path.
    """
    match = _AT_PATH.search(message)
    path = match.group(1) if match else ""
    param = "".join(
        f".{name}" if name else f"[{index}]" for name, index in _PATH_SEGMENT.findall(path)
    ).lstrip(".")
    field = _MISSING_FIELD.search(message) or _UNKNOWN_FIELD.search(message)
    if field:
        param = f"{param}.{field.group(1)}" if param else field.group(1)
    return param or None


def from_validation_error(ex: msgspec.ValidationError) -> APIError:
    """400 for a body that is JSON but not a valid request."""
    text = str(ex)
    return invalid_request(f"Invalid request: {text}", param_from_validation_error(text))


def from_decode_error(ex: msgspec.DecodeError) -> APIError:
    """400 for a body that is not JSON at all."""
    return invalid_request(f"The request body is not valid JSON: {ex}", None, "invalid_json")


ERROR_ENCODER = msgspec.json.Encoder()
