"""The gateway's gunicorn worker: its open-files limit and its error answers."""

from __future__ import annotations

import io
import json
import resource

from gateway.contracts.errors import server_error, too_many_connections
from gateway.contracts.log import Logger
from gateway.errors import raw_response
from gateway.server import raise_open_files_limit


def test_the_soft_open_files_limit_is_raised_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 512:
        return  # nothing to show on such a machine
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        out = io.StringIO()
        limit = raise_open_files_limit(300, Logger("t", out))
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == limit
        assert limit == hard or hard == resource.RLIM_INFINITY
        assert "open_files_limit_low" not in out.getvalue()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_limit_below_what_is_wanted_is_logged() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        return
    out = io.StringIO()
    raise_open_files_limit(hard + 1, Logger("t", out))
    assert json.loads(out.getvalue().splitlines()[-1])["event"] == "open_files_limit_low"
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_refusal_is_a_whole_http_response_in_openai_shape() -> None:
    raw = raw_response(too_many_connections(7))
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Connection"] == "close" and headers["retry-after"] == "1"
    assert headers["x-should-retry"] == "true" and int(headers["Content-Length"]) == len(body)
    assert json.loads(body)["error"]["code"] == "too_many_connections"


def test_server_errors_keep_their_status_in_openai_shape() -> None:
    error = server_error(431, "Error parsing headers: 'limit request headers fields'")
    assert error.status == 431 and error.error.code == "request_headers_too_large"
    assert error.error.message.startswith("Request header fields too large: Error parsing headers")
    assert server_error(414, "").error.code == "request_line_too_long"
    assert server_error(403, "Request forbidden").status == 403
    assert server_error(500, "secret detail").error.message == "The gateway failed to handle the request."
