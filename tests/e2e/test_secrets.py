"""Issue 12 section 3: no provider secret reaches a caller or a log line.

Each fake upstream's `echo_headers` scenario answers with an error whose message echoes
every request header (our `Authorization: Bearer`, `x-api-key` or `x-goog-api-key`) and
the URL with the key as a `?key=` query, as a careless upstream or a proxy in front of it
might; before the stream and after its first chunks.
"""

from __future__ import annotations

import json

import openai
import pytest

from gateway.contracts.redact import REDACTED
from tests.e2e.conftest import FAKE_ANTHROPIC_KEY, FAKE_GEMINI_KEY, FAKE_KEY, gateway_log
from tests.harness.procs import wait_until
from tests.harness.stack import Stack

SECRETS = (FAKE_KEY, FAKE_ANTHROPIC_KEY, FAKE_GEMINI_KEY)
MODELS = ["gpt-test", "claude-test", "gemini-test"]
ECHO = [{"role": "user", "content": "#scenario echo_headers"}]


def assert_no_secret(text: str) -> None:
    """None of the configured provider keys appears in `text`."""
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, f"leaked {leaked} in {text!r}"


def assert_logs_clean(stack: Stack, request_id: str) -> None:
    """Once the gateway logged the request, neither its log nor the worker's holds a secret."""
    wait_until(lambda: request_id in gateway_log(stack), 10, f"access line of {request_id}")
    assert_no_secret(gateway_log(stack))
    assert_no_secret(next(p for p in stack.procs if p.name == "worker").log_text())


def test_the_fakes_really_echo_our_keys(fake_openai: object) -> None:
    """The scenario is only a test if the upstream's text held the secret in the first place."""
    from tests.fakes.server import Received, header_echo

    echo = header_echo(Received("POST", "/v1/x", {"authorization": f"Bearer {FAKE_KEY}"}, b""))
    assert f"Bearer {FAKE_KEY}" in echo and f"?key={FAKE_KEY}" in echo


@pytest.mark.parametrize("model", MODELS)
def test_an_upstream_error_echoing_our_headers_is_scrubbed(client: openai.OpenAI, stack: Stack, model: str) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=model, messages=ECHO)  # type: ignore[arg-type]
    response = caught.value.response
    assert response.status_code == 502
    error = json.loads(response.text)["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_error")
    assert "echo of POST" in error["message"]  # the upstream's message is kept ...
    assert REDACTED in error["message"]  # ... with the secrets cut out
    assert_no_secret(response.text)
    assert_no_secret(json.dumps(dict(response.headers)))
    assert_logs_clean(stack, response.headers["x-request-id"])


@pytest.mark.parametrize("model", MODELS)
def test_a_stream_error_event_echoing_our_headers_is_scrubbed(client: openai.OpenAI, stack: Stack, model: str) -> None:
    with client.chat.completions.with_streaming_response.create(
        model=model, messages=ECHO, stream=True  # type: ignore[arg-type]
    ) as response:
        assert response.status_code == 200
        text = response.read().decode()
        request_id = response.headers["x-request-id"]
    events = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert error["type"] == "upstream_error"
    assert "echo of POST" in error["message"] and REDACTED in error["message"]
    assert len(events) > 2  # the error came after output: an SSE event, not a status
    assert_no_secret(text)
    assert_logs_clean(stack, request_id)
