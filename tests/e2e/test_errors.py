"""Every status of the public error table, as the SDK's matching exception class."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import nats
import openai
import pytest

from gateway.contracts.bus import chat_subject
from tests.e2e.conftest import gateway_log
from tests.harness.procs import SLACK_S
from tests.harness.stack import Stack

USER = [{"role": "user", "content": "hi"}]


def raw_post(stack: Stack, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    """A POST outside the SDK (for bodies the SDK would never send)."""
    request = urllib.request.Request(stack.base_url + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as ex:
        return ex.code, json.loads(ex.read())


def test_validation_error_names_the_param(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model="echo", messages=USER, temperature=2.5)
    assert ex.value.body["param"] == "temperature"
    assert ex.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model="echo", messages=[{"role": "user"}])  # type: ignore[list-item]
    assert ex.value.body["param"] == "messages[0].content"
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model="echo", messages=[])
    assert ex.value.body["param"] == "messages"


def test_body_that_is_not_json_is_a_400(stack: Stack, api_key: str) -> None:
    status, body = raw_post(stack, "/chat/completions", b"{not json", {"authorization": f"Bearer {api_key}", "content-type": "application/json"})
    assert status == 400
    assert body["error"]["code"] == "invalid_json"


def test_missing_unknown_and_disabled_keys_are_401(stack: Stack) -> None:
    for key in ("", "sk-gw-definitely-not-a-key"):
        client = openai.OpenAI(base_url=stack.base_url, api_key=key or "x", max_retries=0,
                               default_headers={"authorization": ""} if not key else None)
        with pytest.raises(openai.AuthenticationError) as ex:
            client.chat.completions.create(model="echo", messages=USER)
        assert ex.value.code == "invalid_api_key"
    secret = stack.create_key("e2e-to-disable")
    client = openai.OpenAI(base_url=stack.base_url, api_key=secret, max_retries=0)
    assert client.chat.completions.create(model="echo", messages=USER).choices[0].message.content == "hi"

    async def disable(nc: nats.aio.client.Client) -> None:
        from gateway.runtime.keys import find_key, put_key
        record = await find_key(nc, "e2e-to-disable")
        record.disabled = True
        await put_key(nc, record)

    stack.run(disable)
    deadline = time.monotonic() + 5
    while True:  # the gateway follows the bucket through its watch
        try:
            client.chat.completions.create(model="echo", messages=USER)
        except openai.AuthenticationError as ex:
            assert ex.code == "invalid_api_key"
            break
        assert time.monotonic() < deadline, "disabled key still accepted"
        time.sleep(0.05)


def test_x_api_key_header_works(stack: Stack, api_key: str) -> None:
    status, body = raw_post(stack, "/chat/completions", json.dumps({"model": "echo", "messages": USER}).encode(),
                            {"x-api-key": api_key, "content-type": "application/json"})
    assert status == 200 and body["choices"][0]["message"]["content"] == "hi"


def test_model_outside_the_key_patterns_is_403(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.base_url, api_key=stack.create_key("e2e-echo-only", ["echo"]), max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as ex:
        client.chat.completions.create(model="gpt-test", messages=USER)
    assert ex.value.code == "model_not_allowed"


def test_unknown_model_and_path_are_404(client: openai.OpenAI, stack: Stack, api_key: str) -> None:
    with pytest.raises(openai.NotFoundError) as ex:
        client.chat.completions.create(model="no-such-model", messages=USER)
    assert ex.value.code == "model_not_found"
    assert "'echo'" in ex.value.message and "GET /v1/models" in ex.value.message
    status, body = raw_post(stack, "/nope", b"{}", {"authorization": f"Bearer {api_key}"})
    assert status == 404 and body["error"]["code"] == "not_found"


def test_unknown_model_404_names_only_the_models_the_key_may_use(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.base_url, api_key=stack.create_key("e2e-404-hint", ["echo*", "gpt-test"]), max_retries=0)
    with pytest.raises(openai.NotFoundError) as ex:
        client.chat.completions.create(model="gpt-4o", messages=USER)
    assert ex.value.code == "model_not_found" and ex.value.param == "model"
    assert ex.value.body["message"] == (
        "The model 'gpt-4o' does not exist or you do not have access to it. "
        "Chat models this key may use: 'echo', 'gpt-test' (GET /v1/models lists them)."
    )
    with pytest.raises(openai.NotFoundError) as ex:
        client.embeddings.create(model="text-embedding-3-small", input="hi")
    assert "Embedding models this key may use: 'echo-embed' (GET" in ex.value.message
    with pytest.raises(openai.NotFoundError) as ex:
        client.models.retrieve("claude-test")  # exists, but this key may not see it
    assert "Models this key may use: 'echo', 'echo-embed', 'gpt-test' (GET" in ex.value.message
    assert "claude-test' does not exist" in ex.value.message and "gemini" not in ex.value.message


def test_wrong_method_is_405_in_openai_shape(stack: Stack) -> None:
    request = urllib.request.Request(stack.base_url + "/chat/completions", method="GET")
    with pytest.raises(urllib.error.HTTPError) as ex:
        urllib.request.urlopen(request, timeout=5)
    assert ex.value.code == 405
    assert json.loads(ex.value.read())["error"]["code"] == "method_not_allowed"


def test_body_over_the_limit_is_413(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as ex:
        client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x" * 270_000}])
    assert ex.value.status_code == 413
    assert ex.value.body["code"] == "request_too_large"


def test_upstream_errors_by_cause(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "#scenario error_400"}])
    assert "bad input from the caller" in bad.value.message and bad.value.body["param"] == "messages"
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "#scenario rate_limited"}])
    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.response.headers["retry-after"] == "7"
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "#scenario error_500"}])
    assert failed.value.status_code == 502
    assert "The server had an error" in failed.value.message


def test_upstream_refusing_our_key_is_502_not_401(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as ex:
        client.chat.completions.create(model="wrongkey-model", messages=USER)
    assert ex.value.status_code == 502
    assert ex.value.code == "upstream_auth_error"
    assert "Incorrect API key" in ex.value.message


def test_provider_without_its_secret_is_a_404_no_client_retries_and_no_cooldown(
        client: openai.OpenAI, stack: Stack, api_key: str) -> None:
    for _ in range(3):  # a cooldown would start after repeated failures: none may
        with pytest.raises(openai.NotFoundError) as ex:
            client.chat.completions.create(model="nokey-model", messages=USER)
        assert ex.value.status_code == 404
        assert ex.value.code == "model_unavailable"
        assert "GATEWAY_TEST_UNSET_KEY" in ex.value.message
        assert ex.value.response.headers["x-should-retry"] == "false"
    # Anthropic's shape on /v1/messages: a 404 its SDK (and Claude Code) does not retry
    status, body = raw_post(stack, "/messages", json.dumps(
        {"model": "nokey-model", "max_tokens": 16, "messages": USER}).encode(),
        {"x-api-key": api_key, "content-type": "application/json", "anthropic-version": "2023-06-01"})
    assert status == 404 and body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"
    assert "GATEWAY_TEST_UNSET_KEY" in body["error"]["message"]
    # the workers report it: /readyz detail names the variable, the worker said so at start
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{stack.gateway_port}/readyz", timeout=10) as response:
            ready = json.loads(response.read())
    except urllib.error.HTTPError as failed:
        ready = json.loads(failed.read())
    assert "GATEWAY_TEST_UNSET_KEY" in ready["unavailable"]["nokey"]
    assert "fakeoai" not in ready["unavailable"]
    listed = {m.id for m in client.models.list()}
    assert "nokey-model" not in listed and "echo" in listed
    worker_log = next(p for p in stack.procs if p.name == "worker").log_text()
    assert "provider_secret_missing" in worker_log and "GATEWAY_TEST_UNSET_KEY" in worker_log
    cooled = [line for line in gateway_log(stack).splitlines() if "deployment_cooldown" in line and "nokey" in line]
    assert cooled == []


def test_no_worker_is_503_at_once(client: openai.OpenAI) -> None:
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as ex:
        client.chat.completions.create(model="ghost-model", messages=USER)
    assert ex.value.status_code == 503
    assert ex.value.code == "no_worker_available"
    # causal: this message comes only from NATS's no-responders answer (a deadline would be
    # a 504); the bound only guards against a hang, well short of idle_timeout_s + slack
    assert isinstance(ex.value.body, dict)
    assert ex.value.body["message"] == "No worker is available for provider 'ghost'."
    assert time.monotonic() - started < SLACK_S


def test_upstream_timeout_is_504(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as ex:
        client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "#scenario slow 4"}])
    assert ex.value.status_code == 504
    assert ex.value.code == "upstream_timeout"


@pytest.fixture
def silent_worker(stack: Stack) -> Iterator[None]:
    """A subscriber on the `silent` provider that takes jobs and never answers."""
    ready = threading.Event()
    stop: list[asyncio.AbstractEventLoop] = []

    def run() -> None:
        async def main() -> None:
            nc = await nats.connect(stack.nats_url, **stack.nats_options("operator"))
            await nc.subscribe(chat_subject("silent"), queue="workers.silent")
            await nc.flush()
            stop.append(asyncio.get_running_loop())
            ready.set()
            try:
                await asyncio.Event().wait()
            finally:
                await nc.close()
        try:
            asyncio.run(main())
        except RuntimeError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(5)
    yield
    for task_loop in stop:
        task_loop.call_soon_threadsafe(task_loop.stop)
    thread.join(5)


def test_a_worker_that_takes_a_job_and_goes_silent_is_lost_within_heartbeats(client: openai.OpenAI, silent_worker: None) -> None:
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as ex:
        client.chat.completions.create(model="silent-model", messages=USER)
    # causal: worker_lost is raised only when the missed heartbeats (2.5 x heartbeat_s = 0.5
    # in the test config) come before idle_timeout_s (3), which would end it otherwise
    assert ex.value.status_code == 502 and ex.value.code == "worker_lost"
    assert 1.0 < time.monotonic() - started < 1.25 + SLACK_S


def test_failure_after_the_stream_began_ends_it_with_an_error_event(client: openai.OpenAI) -> None:
    for scenario in ("midstream", "stream_error"):
        received = []
        with pytest.raises(openai.APIError) as ex:
            for chunk in client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": f"#scenario {scenario} a b c d"}], stream=True
            ):
                received.append(chunk)
        assert len(received) >= 2, scenario  # output arrived before the error
        assert ex.value.body is not None and ex.value.body.get("type") == "upstream_error", scenario


def test_heartbeats_keep_a_slow_upstream_apart_from_a_dead_worker(client: openai.OpenAI) -> None:
    # the upstream is silent for 4 s, longer than the gateway's idle_timeout_s (3 s)
    reply = client.chat.completions.create(model="gpt-patient", messages=[{"role": "user", "content": "#scenario slow 4"}])
    assert reply.choices[0].message.content == "fake: #scenario slow 4"
