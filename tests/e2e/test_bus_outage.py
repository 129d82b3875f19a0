"""Issue 14 item 3: a NATS outage fails requests fast (503 bus_unavailable), and the
gateway serves again once NATS is back."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.faults import chat_body, post, sse_events, started
from tests.fakes.openai import FakeOpenAI
from tests.harness.procs import wait_until


@pytest.fixture
def fresh() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI("sk-fake-upstream")
    fake.start()
    yield fake
    fake.stop()


def test_nats_outage_fails_fast_and_service_resumes(tmp_path: Path, fresh: FakeOpenAI) -> None:
    with started(tmp_path, fresh, idle=30) as (stack, _):
        key = stack.create_key("outage")
        nats_proc = next(p for p in stack.procs if p.name == "nats")
        whole: dict[str, object] = {}

        def non_stream() -> None:
            with httpx.Client(timeout=40) as http:
                started_at = time.monotonic()
                response = post(http, stack, key, chat_body("#scenario slow 20", stream=False))
                whole.update(status=response.status_code, body=response.json(),
                             seconds=time.monotonic() - started_at)

        waiter = threading.Thread(target=non_stream)
        waiter.start()
        with httpx.Client(timeout=40) as http:
            with http.stream("POST", f"{stack.base_url}/chat/completions", json=chat_body("#scenario slow_stream"),
                             headers={"authorization": f"Bearer {key}"}) as response:
                assert response.status_code == 200
                events = sse_events(response.iter_lines())
                assert isinstance(next(events), dict) and isinstance(next(events), dict)
                nats_proc.signal(signal.SIGKILL)
                killed = time.monotonic()
                rest = list(events)
                elapsed = time.monotonic() - killed
        waiter.join(40)
        assert elapsed < 5, f"the stream hung {elapsed:.1f}s after NATS died"
        errors = [e for e in rest if isinstance(e, dict) and "error" in e]
        assert rest[-1] == "[DONE]" and len(errors) == 1
        assert errors[0]["error"]["code"] == "bus_unavailable"  # type: ignore[index]
        assert whole["status"] == 503 and whole["body"]["error"]["code"] == "bus_unavailable"  # type: ignore[index]
        assert whole["seconds"] < 8  # type: ignore[operator]

        # While NATS is down a new request is refused at once.
        with httpx.Client(timeout=40) as http:
            before = time.monotonic()
            response = post(http, stack, key, chat_body("hello", stream=False, model="echo"))
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "bus_unavailable"
            assert response.json()["error"]["type"] == "service_unavailable"
            assert response.headers.get("retry-after")
            assert time.monotonic() - before < 2
            assert http.get(f"{stack.base_url[:-3]}/health").status_code == 503
            # a key this gateway has not seen cannot be looked up now: 503, never a wrong 401
            unseen = http.post(f"{stack.base_url}/chat/completions", json=chat_body("x", stream=False, model="echo"),
                               headers={"authorization": "Bearer sk-gw-not-seen-by-this-gateway"})
            assert unseen.status_code == 503 and unseen.json()["error"]["code"] == "bus_unavailable"

        # NATS back on the same port and store: requests succeed again.
        stack.procs.remove(nats_proc)
        nats_proc.stop()
        stack.start_nats()
        with httpx.Client(timeout=10) as http:
            def serves() -> bool:
                return post(http, stack, key, chat_body("back", stream=False, model="echo")).status_code == 200
            wait_until(serves, 30, "service after NATS restarted")
            answer = post(http, stack, key, chat_body("again", stream=False, model="echo"))
            assert answer.json()["choices"][0]["message"]["content"] == "again"
