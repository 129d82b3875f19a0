"""Gemini error bodies -> our public error table (DESIGN.md "Clarifications")."""

from __future__ import annotations

import pytest

from tests.workers.providers.gemini.conftest import fixture_bytes
from workers.providers.gemini.errors import from_response, prompt_blocked
from workers.providers.gemini.schema import PromptFeedback


def test_invalid_api_key_is_our_configuration_error_502() -> None:
    err = from_response(400, {}, fixture_bytes("error_api_key_invalid.json"))
    assert err.status == 502
    assert err.error.code == "upstream_auth_error"
    assert err.error.type == "upstream_error"
    assert err.error.message == (
        "gemini upstream refused the gateway's credentials (400): "
        "INVALID_ARGUMENT: API key not valid. Please pass a valid API key."
    )


def test_permission_denied_is_502_never_the_callers_403() -> None:
    err = from_response(403, {}, fixture_bytes("error_permission_denied.json"))
    assert (err.status, err.error.code) == (502, "upstream_auth_error")
    assert "Method doesn't allow unregistered callers" in err.error.message


def test_unauthenticated_is_502() -> None:
    body = b'{"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}'
    err = from_response(401, {}, body)
    assert (err.status, err.error.code) == (502, "upstream_auth_error")


def test_resource_exhausted_is_429_with_retry_delay_rounded_up() -> None:
    err = from_response(429, {}, fixture_bytes("error_rate_limited.json"))
    assert err.status == 429
    assert (err.error.type, err.error.code) == ("rate_limit_error", "rate_limit_exceeded")
    assert err.retry_after == "35"
    assert err.error.message.startswith(
        "gemini upstream error (429): RESOURCE_EXHAUSTED: You exceeded your current quota"
    )


def test_retry_after_header_wins_over_retry_info() -> None:
    err = from_response(429, {"retry-after": "3"}, fixture_bytes("error_rate_limited.json"))
    assert err.retry_after == "3"


def test_invalid_argument_is_the_callers_400_with_googles_message() -> None:
    err = from_response(400, {}, fixture_bytes("error_invalid_argument.json"))
    assert err.status == 400
    assert err.error.type == "invalid_request_error"
    assert err.error.message == (
        "gemini upstream error (400): INVALID_ARGUMENT: * GenerateContentRequest.contents[0]"
        ".parts[0].data: required oneof field 'data' must have one initialized field\n"
    )


def test_failed_precondition_is_our_account_502() -> None:
    err = from_response(400, {}, fixture_bytes("error_failed_precondition.json"))
    assert (err.status, err.error.code) == (502, "upstream_error")
    assert err.error.message == (
        "gemini upstream error (400): FAILED_PRECONDITION: User location is not supported for the API use."
    )


@pytest.mark.parametrize(
    ("fixture", "status", "expected", "code"),
    [
        ("error_model_not_found.json", 404, 502, "upstream_error"),
        ("error_unavailable.json", 503, 502, "upstream_error"),
        ("error_internal.json", 500, 502, "upstream_error"),
        ("error_deadline_exceeded.json", 504, 504, "upstream_timeout"),
    ],
)
def test_upstream_side_failures_keep_googles_message(
    fixture: str, status: int, expected: int, code: str
) -> None:
    err = from_response(status, {}, fixture_bytes(fixture))
    assert (err.status, err.error.code) == (expected, code)
    assert err.error.param is None
    assert err.error.message.startswith(f"gemini upstream error ({status}): ")


def test_overloaded_passes_retry_after_on() -> None:
    err = from_response(503, {"retry-after": "10"}, fixture_bytes("error_unavailable.json"))
    assert (err.status, err.retry_after) == (502, "10")
    assert err.error.message == (
        "gemini upstream error (503): UNAVAILABLE: The model is overloaded. Please try again later."
    )


def test_error_wrapped_in_a_json_array_is_read() -> None:
    body = b'[{"error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}}]'
    err = from_response(429, {}, body)
    assert err.status == 429
    assert (
        err.error.message == "gemini upstream error (429): RESOURCE_EXHAUSTED: Resource exhausted."
    )


def test_non_json_error_body_keeps_its_text() -> None:
    err = from_response(502, {}, b"<html><body>Bad Gateway</body></html>")
    assert err.status == 502
    assert err.error.message == "gemini upstream error (502): <html><body>Bad Gateway</body></html>"


def test_prompt_blocked_is_400_content_filter_naming_the_reason() -> None:
    err = prompt_blocked(
        PromptFeedback(block_reason="SAFETY", block_reason_message="The prompt may be unsafe")
    )
    assert err.status == 400
    assert (err.error.type, err.error.code) == ("invalid_request_error", "content_filter")
    assert err.error.message == (
        "Gemini blocked the prompt (blockReason: SAFETY): The prompt may be unsafe."
    )


def test_an_input_over_the_context_window_is_context_length_exceeded() -> None:
    # Issue 21: Gemini's own words, mapped to the form the callers' clients recognise.
    body = (b'{"error": {"code": 400, "message": "The input token count (1048577) exceeds the maximum number of '
            b'tokens allowed (1048576).", "status": "INVALID_ARGUMENT"}}')
    err = from_response(400, {}, body)
    assert (err.status, err.error.code, err.error.param) == (400, "context_length_exceeded", "messages")
    assert err.error.message.startswith("prompt is too long: 1048577 tokens > 1048576 maximum (")
