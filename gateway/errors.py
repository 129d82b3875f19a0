"""The gateway's one error exit: every error body is OpenAI's `{"error": {...}}`.

Falcon's own serializer negotiates on `Accept` (an SSE-only client would get an empty
body) and writes `{"title", "description"}`; these handlers replace it for our errors,
Falcon's (404 route, 405 method, 413) and unexpected exceptions (logged once, 500).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import falcon

from gateway.contracts.errors import (
    APIError,
    http_error,
    internal_error,
    method_not_allowed,
    not_found,
    request_too_large,
)
from gateway.contracts.log import Logger

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504, 529})  # 529: Anthropic's overloaded, on /v1/messages
# Our own upstream configuration is wrong: retrying cannot help (conversion-reference 1.4).
NOT_RETRYABLE_CODES = frozenset({"upstream_auth_error", "upstream_config_error", "insufficient_quota",
                                 "model_unavailable"})


def headers_of(ex: APIError) -> dict[str, str]:
    """The headers an error response carries besides its content type: retry hints."""
    headers = dict(ex.headers)
    if ex.retry_after:
        headers["retry-after"] = ex.retry_after
    if ex.status >= 500 or ex.status == 429 or ex.error.code in NOT_RETRYABLE_CODES:
        # NOTE: tells the OpenAI SDK whether retrying can help (it retries 429/5xx by default).
        retry = ex.status in RETRYABLE_STATUSES and ex.error.code not in NOT_RETRYABLE_CODES
        headers["x-should-retry"] = "true" if retry else "false"
    return headers


def render(resp: falcon.Response, ex: APIError) -> None:
    """Write `ex` as the response: status, JSON body, retry headers."""
    resp.status = ex.status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = ex.body()
    resp.stream = None
    resp.set_headers(headers_of(ex))


def raw_response(ex: APIError) -> bytes:
    """`ex` as a whole HTTP/1.1 response that closes the connection, for answers written
    by the server itself, outside any WSGI request (gateway/server.py)."""
    body = ex.body()
    try:
        reason = HTTPStatus(ex.status).phrase
    except ValueError:
        reason = "Error"  # 499 and other statuses outside the standard's list
    lines = [f"HTTP/1.1 {ex.status} {reason}", "Connection: close", "Content-Type: application/json",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers_of(ex).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _from_falcon(ex: falcon.HTTPError) -> APIError:
    if ex.status_code == 404:
        return not_found("Unknown path. The gateway serves /v1/models, /v1/chat/completions, /v1/embeddings and /v1/messages.")
    if ex.status_code == 405:
        error = method_not_allowed("This method is not allowed on this path.")
        allow = dict(ex.headers or {}).get("Allow")
        if allow:
            error.headers["Allow"] = allow  # RFC 9110: a 405 lists the methods the path takes
        return error
    if ex.status_code == 413:
        return request_too_large(0)
    message = ex.description or ex.title or "Request failed."
    return http_error(ex.status_code, str(message))


class ErrorHandlers:
    """Falcon error handlers bound to the process logger."""

    def __init__(self, log: Logger) -> None:
        self._log = log

    def register(self, app: falcon.App[falcon.Request, falcon.Response]) -> None:
        """Install the handlers (most specific type wins in Falcon)."""
        app.add_error_handler(Exception, self.unexpected)
        app.add_error_handler(falcon.HTTPError, self.falcon_error)
        app.add_error_handler(APIError, self.api_error)

    def api_error(self, req: falcon.Request, resp: falcon.Response, ex: APIError, params: Any) -> None:
        """Our own errors."""
        render(resp, ex)

    def falcon_error(self, req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params: Any) -> None:
        """Falcon's errors, reshaped."""
        render(resp, _from_falcon(ex))

    def unexpected(self, req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
        """Our bug: log once with the request id, answer 500."""
        self._log.error(
            "unhandled_exception",
            request_id=getattr(req.context, "request_id", None),
            error=f"{type(ex).__name__}: {ex}",
        )
        render(resp, internal_error())
