"""Anthropic errors -> our public errors, by cause (DESIGN.md; conversion-reference.md 4)."""

from __future__ import annotations

import json

import pytest

from workers.providers.anthropic.errors import from_error_event, from_response
from workers.providers.anthropic.schema import ErrorDetail


def _body(kind: str, message: str) -> bytes:
    return json.dumps(
        {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
    ).encode()


def test_invalid_api_key_is_our_configuration_error_not_the_callers_401() -> None:
    err = from_response(401, {}, _body("authentication_error", "invalid x-api-key"))
    assert err.status == 502
    assert err.error.code == "upstream_auth_error"
    assert err.error.type == "upstream_error"
    assert err.error.message == (
        "anthropic upstream refused the gateway's credentials (401): authentication_error: invalid x-api-key"
    )


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        (403, "permission_error", "Your API key does not have permission to use the specified resource."),
        (402, "billing_error", "Billing issue."),
        (
            400,
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing.",
        ),
    ],
)
def test_account_problems_are_502_upstream_auth_errors(status: int, kind: str, message: str) -> None:
    err = from_response(status, {}, _body(kind, message))
    assert (err.status, err.error.code) == (502, "upstream_auth_error")
    assert message in err.error.message


def test_rate_limit_is_429_with_retry_after_passed_on() -> None:
    err = from_response(429, {"retry-after": "7"}, _body("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"))
    assert err.status == 429
    assert (err.error.type, err.error.code) == ("rate_limit_error", "rate_limit_exceeded")
    assert err.retry_after == "7"
    assert err.error.message == (
        "anthropic upstream error (429): rate_limit_error: Number of request tokens has exceeded "
        "your per-minute rate limit"
    )


def test_invalid_request_is_400_keeping_the_upstream_message() -> None:
    err = from_response(400, {}, _body("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"))
    assert err.status == 400
    assert err.error.type == "invalid_request_error"
    assert err.error.message == (  # an overflow: worded first as Anthropic words it (finding 8)
        "prompt is too long: 210000 tokens > 200000 maximum (anthropic upstream error (400): "
        "invalid_request_error: prompt is too long: 210000 tokens > 200000 maximum)"
    )


def test_request_too_large_is_a_413_for_the_caller() -> None:
    err = from_response(413, {}, _body("request_too_large", "Request exceeds the maximum allowed number of bytes."))
    assert err.status == 413 and err.error.code == "request_too_large"
    assert "maximum allowed number of bytes" in err.error.message


@pytest.mark.parametrize(
    ("status", "kind", "message", "code"),
    [
        (529, "overloaded_error", "Overloaded", "upstream_overloaded"),
        (500, "api_error", "Internal server error", "upstream_error"),
        (404, "not_found_error", "model: claude-nonexistent", "upstream_error"),
    ],
)
def test_overload_server_errors_and_unknown_upstream_model_are_502(status: int, kind: str, message: str,
                                                                  code: str) -> None:
    err = from_response(status, {"retry-after": "3"}, _body(kind, message))
    assert (err.status, err.error.code) == (502, code)
    assert err.error.message == f"anthropic upstream error ({status}): {kind}: {message}"


def test_timeout_is_504() -> None:
    err = from_response(504, {}, _body("timeout_error", "Request timed out"))
    assert (err.status, err.error.code) == (504, "upstream_timeout")


def test_non_json_error_body_keeps_its_text() -> None:
    err = from_response(502, {}, b"<html>Bad Gateway</html>")
    assert err.status == 502
    assert err.error.message == "anthropic upstream error (502): <html>Bad Gateway</html>"


def test_empty_error_body_names_the_status() -> None:
    assert from_response(503, {}, b"").error.message == "anthropic upstream error (503): HTTP 503"


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("overloaded_error", 502),
        ("api_error", 502),
        ("rate_limit_error", 429),
        ("timeout_error", 504),
        ("invalid_request_error", 400),
        ("authentication_error", 502),
        ("something_new", 502),
    ],
)
def test_midstream_error_event_maps_like_the_same_error_before_the_stream(kind: str, status: int) -> None:
    assert from_error_event(ErrorDetail(kind, "boom")).status == status


def test_midstream_overloaded_keeps_type_and_message() -> None:
    err = from_error_event(ErrorDetail("overloaded_error", "Overloaded"))
    assert err.error.message == "anthropic upstream error (529): overloaded_error: Overloaded"


def test_a_prompt_too_long_is_context_length_exceeded_worded_as_anthropic_words_it() -> None:
    # Issue 21: Claude Code compacts on "prompt is too long: N tokens > M maximum".
    err = from_response(400, {}, _body("invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum"))
    assert (err.status, err.error.type, err.error.code) == (400, "invalid_request_error", "context_length_exceeded")
    assert err.error.message.startswith("prompt is too long: 250000 tokens > 200000 maximum (")


def test_overloaded_is_a_502_marked_upstream_overloaded_before_and_mid_stream() -> None:
    # /v1/messages answers it as Anthropic's own 529 overloaded_error (gateway/dialects/messages.py).
    for err in (from_response(529, {"retry-after": "2"}, _body("overloaded_error", "Overloaded")),
                from_error_event(ErrorDetail(type="overloaded_error", message="Overloaded"))):
        assert (err.status, err.error.type, err.error.code) == (502, "upstream_error", "upstream_overloaded")
        assert "Overloaded" in err.error.message
