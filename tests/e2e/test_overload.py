"""Issue 14 item 5: one slow provider cannot starve the others on the same worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.faults import chat_body, post, started
from tests.fakes.openai import FakeOpenAI
from tests.harness.procs import wait_until


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI("sk-fake-upstream")
    server.start()
    yield server
    server.stop()


def test_a_saturated_provider_queues_with_heartbeats_refuses_when_full_and_others_stay_fast(
        tmp_path: Path, fake: FakeOpenAI) -> None:
    # fakeoai: 2 jobs at once and 2 waiting per worker; echo keeps the [workers] defaults
    limits = "max_concurrent_jobs = 2\nmax_queued_jobs = 2"
    with started(tmp_path, fake, idle=30, heartbeat=0.5, providers_extra=limits) as (stack, _):
        key = stack.create_key("overload")

        def slow(_: int) -> tuple[int, dict[str, object], str | None, float, int]:
            with httpx.Client(timeout=40) as http:
                begun = time.monotonic()
                response = post(http, stack, key, chat_body("#scenario slow 3", stream=False))
                # how many slow upstream calls had ended when this answer came
                ended = fake.slow_finished
                return (response.status_code, response.json(), response.headers.get("retry-after"),
                        time.monotonic() - begun, ended)

        with ThreadPoolExecutor(6) as pool:
            slow_calls = [pool.submit(slow, i) for i in range(6)]
            # the provider is saturated: two jobs at the upstream (the others queue or are refused)
            wait_until(lambda: fake.chat_count() == 2, 10, "two slow jobs at the upstream")
            with httpx.Client(timeout=40) as http:
                for i in range(5):
                    reply = post(http, stack, key, chat_body(f"quick {i}", stream=False, model="echo"))
                    assert reply.status_code == 200, reply.text
                    assert reply.json()["choices"][0]["message"]["content"] == f"quick {i}"
            # causal, not timed: every quick reply came while both slow jobs were still upstream
            assert (fake.slow_finished, fake.chat_count()) == (0, 2)
            outcomes = [call.result(40) for call in slow_calls]
        served = [o for o in outcomes if o[0] == 200]
        refused = [o for o in outcomes if o[0] == 503]
        # two run, two wait (their heartbeats keep them alive past 2.5 heartbeats), two refused at once
        assert len(served) == 4 and len(refused) == 2, [(o[0], o[1]) for o in outcomes]
        assert all(o[1]["choices"][0]["message"]["content"] == "fake: #scenario slow 3" for o in served)  # type: ignore[index]
        for status, body, retry_after, seconds, ended in refused:
            assert body["error"]["code"] == "worker_busy" and body["error"]["type"] == "service_unavailable"  # type: ignore[index]
            assert retry_after and ended == 0  # refused at once: before any running job ended
        assert fake.chat_count() == 4 and fake.slow_finished == 4
        assert max(o[3] for o in served) > 5.0  # the waiting two ran after the first two
