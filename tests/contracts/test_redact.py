"""The secret scrubber: configured keys and credential shapes out of upstream text."""

from __future__ import annotations

import io
import json

import pytest

from gateway.contracts.errors import APIError, OpenAIError
from gateway.contracts.log import Logger
from gateway.contracts.redact import REDACTED, Redactor

KEY = "sk-proj-0123456789abcdef"


def test_a_configured_key_is_removed_wherever_it_appears() -> None:
    redactor = Redactor([KEY, None, ""])
    assert redactor.text(f"bad key {KEY}!{KEY}") == f"bad key {REDACTED}!{REDACTED}"


def test_a_url_encoded_configured_key_is_removed() -> None:
    redactor = Redactor(["abc/def+ghi=="])
    assert redactor.text("GET /x?q=abc%2Fdef%2Bghi%3D%3D") == f"GET /x?q={REDACTED}"


def test_a_key_containing_another_is_removed_whole() -> None:
    redactor = Redactor(["secret-1", "secret-1-long"])
    assert redactor.text("a secret-1-long b") == f"a {REDACTED} b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.DEF-123_xyz", f"Authorization: Bearer {REDACTED}"),
        ('{"authorization": "Bearer tok_abcdefgh"}', f'{{"authorization": "Bearer {REDACTED}"}}'),
        ("{'x-api-key': 'sk-ant-api03-zzzz'}", f"{{'x-api-key': '{REDACTED}'}}"),
        ("x-goog-api-key: AIzaSyA-1234567890", f"x-goog-api-key: {REDACTED}"),
        ('"X-Goog-Api-Key":"AIzaSyA"', f'"X-Goog-Api-Key":"{REDACTED}"'),
        ("api-key=abcd1234", f"api-key={REDACTED}"),
        ("proxy-authorization: Basic dXNlcjpwYXNz", f"proxy-authorization: Basic {REDACTED}"),
        ("POST /v1beta/models/m:generateContent?key=AIzaXYZ&alt=sse",
         f"POST /v1beta/models/m:generateContent?key={REDACTED}&alt=sse"),
        ("url https://h/p?alt=sse&api_key=k1#frag", f"url https://h/p?alt=sse&api_key={REDACTED}#frag"),
        ("token=abc; access_token=def", f"token={REDACTED}; access_token={REDACTED}"),
        ("sent bearer abcdefghijklmnop", f"sent bearer {REDACTED}"),
        (r'{\"x-api-key\": \"sk-ant-zz\"}', f'{{\\"x-api-key\\": \\"{REDACTED}\\"}}'),
    ],
)
def test_credential_shapes_are_removed_whoever_owns_them(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Incorrect API key provided: sk-fa***.",
        "x-api-key header is required",
        "invalid x-api-key",
        "Bearer auth",  # too short to be a token: ordinary words stay readable
        "max_tokens=5 exceeds the limit",
        "monkey=3",
        "prompt is too long: 250000 tokens > 200000 maximum",
    ],
)
def test_ordinary_error_text_is_left_alone(text: str) -> None:
    assert Redactor([KEY]).text(text) == text


def test_an_error_is_scrubbed_in_every_caller_visible_field() -> None:
    redactor = Redactor([KEY])
    # `type` and `code` are the error table's own names, never upstream text (issue 22,
    # item 3: they are not rewritten); every text an upstream can write is scrubbed.
    ex = APIError(502, OpenAIError(f"echo {KEY}", "upstream_error", f"p.{KEY}", "upstream_error"), f"7 {KEY}",
                  {"x-echo": f"Bearer {KEY}"})
    out = redactor.error(ex)
    assert out.status == 502
    assert (out.error.message, out.error.type, out.error.param, out.error.code) == (
        f"echo {REDACTED}", "upstream_error", f"p.{REDACTED}", "upstream_error")
    assert out.retry_after == f"7 {REDACTED}"
    assert out.headers == {"x-echo": f"Bearer {REDACTED}"}
    assert KEY not in out.body().decode()


def test_an_error_without_optional_fields_keeps_them_absent() -> None:
    out = Redactor([KEY]).error(APIError(429, OpenAIError("slow down", "rate_limit_error"), "7"))
    assert (out.error.param, out.error.code, out.retry_after, out.headers) == (None, None, "7", {})


def test_a_logger_with_a_redactor_writes_no_secret() -> None:
    out = io.StringIO()
    log = Logger("worker", stream=out, redactor=Redactor([KEY]))
    log.error("job_failed", request_id="req_1", error=f"ValueError: upstream said {KEY}", count=3)
    record = json.loads(out.getvalue())
    assert KEY not in out.getvalue()
    assert record["error"] == f"ValueError: upstream said {REDACTED}"
    assert (record["request_id"], record["count"]) == ("req_1", 3)


# Issue 22, item 3: short provider "secrets" garbled every message and log line.


def test_a_key_shorter_than_eight_characters_is_no_secret() -> None:
    redactor = Redactor(["e", "ollama", "1234567"])
    text = '{"code":"upstream_error","provider":"ollama","message":"key 1234567 refused"}'
    assert redactor.text(text) == text


def test_a_key_is_replaced_only_as_a_whole_token() -> None:
    redactor = Redactor([KEY])
    assert redactor.text(f"x{KEY} {KEY}_2 ({KEY}).") == f"x{KEY} {KEY}_2 ({REDACTED})."
    assert redactor.text(f'"key":"{KEY}"') == f'"key":"{REDACTED}"'


def test_an_errors_type_and_code_are_never_rewritten() -> None:
    word = "upstream_error"  # a key that happens to equal the code itself
    error = APIError(502, OpenAIError(f"refused: {word} bad", "upstream_error", None, "upstream_error"))
    scrubbed = Redactor([word]).error(error)
    assert (scrubbed.error.type, scrubbed.error.code) == ("upstream_error", "upstream_error")
    assert scrubbed.error.message == f"refused: {REDACTED} bad"


def test_structured_log_fields_are_never_rewritten() -> None:
    out = io.StringIO()
    secret = "provider-named-like-its-key"
    Logger("worker", stream=out, redactor=Redactor([secret])).warning(
        "x", provider=secret, error=f"upstream said {secret}")
    record = json.loads(out.getvalue())
    assert record["provider"] == secret and record["error"] == f"upstream said {REDACTED}"
