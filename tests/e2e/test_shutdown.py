"""Issue 14 item 6: SIGTERM to a gateway or a worker loses nothing.

Requests in flight finish within the grace; the rest are cut with an error event, their
jobs stopped upstream and billed for what was spent with status "cut".
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.faults import chat_body, post, sse_events, started
from tests.fakes.openai import PROMPT_TOKENS, FakeOpenAI
from tests.harness.procs import port_open, wait_until
from tests.harness.stack import Stack


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI("sk-fake-upstream")
    server.start()
    yield server
    server.stop()


def _whole_in_background(stack: Stack, key: str, content: str) -> tuple[threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}

    def run() -> None:
        with httpx.Client(timeout=30) as http:
            response = post(http, stack, key, chat_body(content, stream=False))
            outcome.update(status=response.status_code, body=response.json(),
                           request_id=response.headers.get("x-request-id"))

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _at_upstream(fake: FakeOpenAI, text: str) -> bool:
    """Whether the fake has received a chat request carrying `text` (it is then in flight)."""
    return any(text.encode() in r.body for r in fake.requests_to("/chat/completions"))


def _cut_stream(stack: Stack, key: str, stop: object) -> tuple[str, list[object], float]:
    """A long stream; `stop()` is called after its first chunks; returns what followed."""
    with httpx.Client(timeout=30) as http:
        with http.stream("POST", f"{stack.base_url}/chat/completions", json=chat_body("#scenario slow_stream"),
                         headers={"authorization": f"Bearer {key}"}) as response:
            assert response.status_code == 200
            request_id = response.headers["x-request-id"]
            events = sse_events(response.iter_lines())
            for _ in range(3):
                assert isinstance(next(events), dict)
            stop()  # type: ignore[operator]
            signalled = time.monotonic()
            rest = list(events)
            return request_id, rest, time.monotonic() - signalled


def _error_code(rest: list[object]) -> str:
    errors = [e for e in rest if isinstance(e, dict) and "error" in e]
    assert rest and rest[-1] == "[DONE]" and len(errors) == 1, rest[-3:]
    return str(errors[0]["error"]["code"])  # type: ignore[index]


def test_sigterm_to_a_gateway_finishes_short_requests_and_cuts_the_rest(tmp_path: Path, fake: FakeOpenAI) -> None:
    with started(tmp_path, fake, gateway_extra="shutdown_grace_s = 2") as (stack, _):
        key = stack.create_key("gw-term")
        gateway = next(p for p in stack.procs if p.name == "gateway")
        fake.disconnected.clear()
        short = None

        def stop() -> None:
            nonlocal short
            short = _whole_in_background(stack, key, "#scenario slow 1")
            # the short request is in flight (at the upstream) before the signal
            wait_until(lambda: _at_upstream(fake, "#scenario slow 1"), 10, "the short request at the upstream")
            gateway.signal(signal.SIGTERM)

        request_id, rest, seconds = _cut_stream(stack, key, stop)
        assert _error_code(rest) == "shutting_down"
        assert 1.5 < seconds < 6  # the grace (2 s), then cut at once
        assert short is not None
        short[0].join(30)
        assert short[1]["status"] == 200  # finished within the grace
        assert short[1]["body"]["choices"][0]["message"]["content"] == "fake: #scenario slow 1"  # type: ignore[index]
        assert fake.disconnected.wait(5), "the worker did not stop the upstream call"
        assert gateway.popen.wait(15) == 0
        assert not port_open(stack.gateway_port)  # no longer accepting

        cut = stack.usage_for(request_id)
        assert (cut.status, cut.error_code, cut.source) == ("cut", "gateway_shutdown", "worker")
        assert cut.completion_tokens > 0 and cut.prompt_tokens > 0 and cut.estimated
        whole = stack.usage_for(str(short[1]["request_id"]))
        # the fake's fixed prompt count, and its answer "fake: #scenario slow 1" of 4 words
        assert (whole.status, whole.prompt_tokens, whole.completion_tokens) == ("ok", PROMPT_TOKENS, 4)
        assert [e.request_id for e in stack.usage_events()].count(request_id) == 1


def test_sigterm_to_a_worker_finishes_in_flight_jobs_cuts_the_rest_and_bills_all(tmp_path: Path, fake: FakeOpenAI) -> None:
    with started(tmp_path, fake, workers_extra="shutdown_grace_s = 2") as (stack, _):
        key = stack.create_key("worker-term")
        worker = next(p for p in stack.procs if p.name == "worker")
        short = None

        def stop() -> None:
            nonlocal short
            short = _whole_in_background(stack, key, "#scenario slow 1")
            wait_until(lambda: _at_upstream(fake, "#scenario slow 1"), 10, "the short request at the upstream")
            worker.signal(signal.SIGTERM)

        request_id, rest, seconds = _cut_stream(stack, key, stop)
        assert _error_code(rest) == "shutting_down"
        assert 1.5 < seconds < 6
        assert short is not None
        short[0].join(30)
        assert short[1]["status"] == 200
        assert worker.popen.wait(15) == 0
        log = worker.log_text()
        assert "usage_unpublished" not in log and "worker_cut" in log

        cut = stack.usage_for(request_id)
        assert (cut.status, cut.error_code) == ("cut", "worker_shutdown")
        assert cut.completion_tokens > 0 and cut.estimated
        assert stack.usage_for(str(short[1]["request_id"])).status == "ok"
        # the worker is gone: a new request finds no worker, at once
        with httpx.Client(timeout=10) as http:
            response = post(http, stack, key, chat_body("anyone?", stream=False))
            assert response.status_code == 503 and response.json()["error"]["code"] == "no_worker_available"
