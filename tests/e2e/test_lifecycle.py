"""Client disconnects, keys created from the command line, and the stack's processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.harness.procs import ROOT, wait_until
from tests.harness.stack import Stack


def test_client_disconnect_cancels_the_upstream_call(stack: Stack, api_key: str, fake_openai: FakeOpenAI) -> None:
    fake_openai.disconnected.clear()
    body = {"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "#scenario slow_stream"}]}
    with httpx.Client(timeout=10) as http:
        with http.stream("POST", f"{stack.base_url}/chat/completions", json=body,
                         headers={"authorization": f"Bearer {api_key}"}) as response:
            assert response.status_code == 200
            request_id = response.headers["x-request-id"]
            lines = response.iter_lines()
            data = [line for line in (next(lines) for _ in range(6)) if line.startswith("data: ")]
            assert len(data) >= 2
        # leaving the block closes the connection mid-stream
    started = time.monotonic()
    assert fake_openai.disconnected.wait(10), "the upstream request was not closed"
    assert time.monotonic() - started < 10
    worker = next(p for p in stack.procs if p.name == "worker")
    wait_until(lambda: request_id in worker.log_text() and "job_cancelled" in worker.log_text(), 5, "cancel in worker log")


def test_key_from_scripts_keys_works_at_once(stack: Stack) -> None:
    env = {**os.environ, "NATS_URL": stack.nats_url, "GATEWAY_DATA_DIR": str(stack.workdir / "data")}
    out = subprocess.run([sys.executable, "-m", "gateway.ops.keys_cli", "create", "e2e-cli", "--models", "echo,gpt-*", "--rpm", "100"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=True)
    secret = out.stdout.strip().splitlines()[-1]
    assert secret.startswith("sk-gw-")
    client = openai.OpenAI(base_url=stack.base_url, api_key=secret, max_retries=0)
    reply = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "right away"}])
    assert reply.choices[0].message.content == "right away"
    listed = subprocess.run([sys.executable, "-m", "gateway.ops.keys_cli", "list"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=30, check=True).stdout
    assert "e2e-cli" in listed and "echo,gpt-*" in listed and secret not in listed
    subprocess.run([sys.executable, "-m", "gateway.ops.keys_cli", "disable", "e2e-cli"], cwd=ROOT, env=env,
                   capture_output=True, text=True, timeout=30, check=True)
    deadline = time.monotonic() + 5
    while True:
        try:
            client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}])
        except openai.AuthenticationError:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_scripts_keys_warns_on_a_pattern_and_lists_and_purges_stored_responses(stack: Stack) -> None:
    env = {**os.environ, **stack._env(stack.workdir / "gateway.toml")}

    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gateway.ops.keys_cli", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=30, check=True)

    created = keys("create", "e2e-stored", "--models", "echo,nomodel*")
    assert "warning: --models pattern 'nomodel*' matches no configured model" in created.stderr
    assert "'echo'" not in created.stderr  # a pattern that matches says nothing
    client = openai.OpenAI(base_url=stack.base_url, api_key=created.stdout.strip().splitlines()[-1], max_retries=0)
    stored = client.responses.create(model="echo", input="keep me")
    assert stored.id in keys("responses", "list", "e2e-stored").stdout
    assert "purged 1 stored response(s)" in keys("responses", "purge", "e2e-stored").stdout
    assert keys("responses", "list", "e2e-stored").stdout.startswith("0 stored response(s)")
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(stored.id)


def _request_id_for(stack: Stack, client_request_id: str) -> str:
    """Our request id, from the gateway's access-log line that carries the caller's id."""
    import json

    gateway = next(p for p in stack.procs if p.name == "gateway")
    for line in gateway.log_text().splitlines():
        if client_request_id in line and line.startswith("{"):
            return str(json.loads(line)["request_id"])
    raise AssertionError(f"no access-log line for {client_request_id}")


def test_non_stream_client_that_goes_away_is_cancelled_and_billed_once(stack: Stack, api_key: str) -> None:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "#scenario slow 1.8"}]}
    with httpx.Client(timeout=0.3) as http:
        try:
            http.post(f"{stack.base_url}/chat/completions", json=body,
                      headers={"authorization": f"Bearer {api_key}", "x-request-id": "client-gone-1"})
        except httpx.TimeoutException:
            pass  # the client gives up and closes the connection
    wait_until(lambda: "client-gone-1" in next(p for p in stack.procs if p.name == "gateway").log_text(), 5,
               "access log of the abandoned request")
    request_id = _request_id_for(stack, "client-gone-1")
    event = stack.usage_for(request_id)
    assert event.status == "cancelled" and event.estimated
    assert event.prompt_tokens > 0 and event.completion_tokens == 0
    assert [e.request_id for e in stack.usage_events()].count(request_id) == 1


def test_cancelled_stream_bills_the_text_already_streamed(stack: Stack, api_key: str) -> None:
    body = {"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "#scenario slow_stream"}]}
    with httpx.Client(timeout=10) as http:
        with http.stream("POST", f"{stack.base_url}/chat/completions", json=body,
                         headers={"authorization": f"Bearer {api_key}"}) as response:
            request_id = response.headers["x-request-id"]
            lines = response.iter_lines()
            for _ in range(8):
                next(lines)
    event = stack.usage_for(request_id)
    assert event.status == "cancelled" and event.estimated and event.stream
    assert event.completion_tokens >= 1 and event.prompt_tokens >= 1
