"""JobService's metrics and its one `job` line per job (issue 15): upstream errors by provider
and status, jobs by outcome."""

from __future__ import annotations

import asyncio
import io
import json
import time

import httpx
import pytest

from gateway.contracts.bus import Error, Job, Result, UsageEvent
from gateway.contracts.config import parse
from gateway.contracts.log import Logger
from gateway.runtime.metrics import WorkerMetrics
from workers.providers import load
from workers.job import Route
from workers.service import JobService
from workers.upstream import Upstream
from tests.workers.test_service import Frames

CONFIG = parse("""
[providers.oai]
kind = "openai"
base_url = "http://upstream.invalid/v1"
api_key_env = "METRICS_TEST_KEY"
[[models]]
id = "gpt"
provider = "oai"
""")
BODY = b'{"model":"gpt","messages":[{"role":"user","content":"hi"}]}'
COMPLETION = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "yo"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def run(handler: httpx.MockTransport) -> tuple[Frames, WorkerMetrics, list[dict[str, object]]]:
    frames, log, metrics = Frames(), io.StringIO(), WorkerMetrics()
    usage: list[UsageEvent] = []
    config = CONFIG.providers["oai"]
    route = Route("oai", load("openai"), Upstream("oai", config, transport=handler), config)
    job = Job(request_id="req_m1", key_id="k1", op="chat", model="gpt", provider="oai", upstream_model="gpt",
              body=BODY, deadline=time.time() + 10)

    async def main() -> None:
        service = JobService(frames, {"oai": route}, usage.append, Logger("worker", stream=log, level=20),
                             metrics=metrics)
        await service.run(job, "inbox.1")
        await route.upstream.aclose()

    asyncio.run(main())
    return frames, metrics, [json.loads(line) for line in log.getvalue().splitlines()]


@pytest.fixture(autouse=True)
def provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_TEST_KEY", "sk-metrics-test")


def sample(metrics: WorkerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_an_upstream_error_status_is_counted_by_provider_and_status() -> None:
    frames, metrics, lines = run(httpx.MockTransport(lambda request: httpx.Response(
        429, json={"error": {"message": "slow down", "type": "rate_limit", "code": "rate_limit_exceeded"}})))
    [frame] = frames.frames
    assert isinstance(frame, Error) and frame.status == 429
    assert sample(metrics, "worker_upstream_errors_total", provider="oai", status="429") == 1
    assert sample(metrics, "worker_jobs_total", provider="oai", op="chat", status="error") == 1
    assert sample(metrics, "worker_jobs_in_flight", provider="oai") is None  # Worker's, not JobService's
    [job] = [line for line in lines if line["event"] == "job"]
    assert job["request_id"] == "req_m1" and job["status"] == "error" and job["upstream_status"] == "429"
    assert job["key_id"] == "k1" and job["model"] == "gpt" and job["provider"] == "oai"


def test_an_unreachable_upstream_is_counted_by_its_code() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    frames, metrics, _ = run(httpx.MockTransport(refuse))
    [frame] = frames.frames
    assert isinstance(frame, Error) and frame.status == 502
    assert sample(metrics, "worker_upstream_errors_total", provider="oai", status="upstream_unreachable") == 1


def test_a_good_answer_counts_no_upstream_error_and_logs_its_usage() -> None:
    frames, metrics, lines = run(httpx.MockTransport(lambda request: httpx.Response(200, json=COMPLETION)))
    [frame] = frames.frames
    assert isinstance(frame, Result)
    assert sample(metrics, "worker_jobs_total", provider="oai", op="chat", status="ok") == 1
    assert sample(metrics, "worker_upstream_errors_total", provider="oai", status="200") is None
    assert sample(metrics, "worker_job_duration_seconds_count", provider="oai", op="chat") == 1
    [job] = [line for line in lines if line["event"] == "job"]
    assert (job["prompt_tokens"], job["completion_tokens"], job["upstream_status"]) == (3, 1, None)
