"""Traces of the real processes (issue 15): with OTEL_* set, one request is one trace from
the gateway through the NATS message headers to the worker and its upstream call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.e2e.conftest import FAKE_KEY
from tests.fakes.openai import FakeOpenAI
from tests.harness.procs import wait_until
from tests.harness.stack import Stack

CONFIG = """
[providers.fakeoai]
kind = "openai"
base_url = "{fake}/v1"
api_key_env = "FAKE_OPENAI_KEY"
timeout_s = 5

[[models]]
id = "gpt-traced"
provider = "fakeoai"
upstream = "gpt-upstream"
"""
# spans as one JSON line each on stderr, exported within 50 ms
OTEL = {"OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_SCHEDULE_DELAY": "50"}


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI) -> Iterator[tuple[Stack, str]]:
    stack = Stack(tmp_path_factory.mktemp("traced"))
    try:
        config = stack.write_config("gateway.toml", CONFIG.format(fake=fake_openai.url))
        stack.start_nats()
        stack.start_worker(config, providers=["fakeoai"], FAKE_OPENAI_KEY=FAKE_KEY, **OTEL)
        stack.start_gateway(config, **OTEL)
        yield stack, stack.create_key("tracer")
    finally:
        stack.close()


def spans(stack: Stack, name: str) -> list[dict[str, Any]]:
    """The spans a process exported (its JSON lines that have a span context)."""
    proc = next(p for p in stack.procs if p.name == name)
    found = []
    for line in proc.log_text().splitlines():
        if line.startswith("{") and '"context"' in line:
            record = json.loads(line)
            if "trace_id" in record.get("context", {}):
                found.append(record)
    return found


def test_one_request_is_one_trace_across_gateway_worker_and_upstream(traced: tuple[Stack, str]) -> None:
    stack, secret = traced
    client = openai.OpenAI(base_url=stack.base_url, api_key=secret, max_retries=0, timeout=20)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-traced", messages=[{"role": "user", "content": "trace me"}])
    request_id = raw.headers["x-request-id"]
    usage = raw.parse().usage
    assert usage is not None

    def job_span() -> dict[str, Any] | None:
        for span in spans(stack, "worker"):
            if span["attributes"].get("llm_gateway.request_id") == request_id:
                return span
        return None

    wait_until(lambda: job_span() is not None, 10, "the worker's job span")
    job = job_span()
    assert job is not None
    trace_id = job["context"]["trace_id"]
    wait_until(lambda: any(s["context"]["trace_id"] == trace_id for s in spans(stack, "gateway")), 10,
               "the gateway's span of the same trace")
    [front] = [s for s in spans(stack, "gateway") if s["context"]["trace_id"] == trace_id]
    [upstream] = [s for s in spans(stack, "worker") if s["parent_id"] == job["context"]["span_id"]]

    assert front["name"] == "chat gpt-traced" and front["kind"] == "SpanKind.CLIENT"
    assert job["parent_id"] == front["context"]["span_id"]  # carried in the NATS message headers
    assert job["name"] == "chat gpt-upstream" and job["kind"] == "SpanKind.CONSUMER"
    assert upstream["name"] == "POST" and upstream["attributes"]["http.response.status_code"] == 200
    assert upstream["attributes"]["server.address"] == "127.0.0.1"
    assert front["attributes"]["gen_ai.request.model"] == "gpt-traced"
    assert front["attributes"]["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert front["attributes"]["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert job["attributes"]["gen_ai.provider.name"] == "openai"
    assert job["attributes"]["gen_ai.operation.name"] == "chat"
    assert job["attributes"]["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert front["resource"]["attributes"]["service.name"] == "llm-gateway-gateway"
    assert job["resource"]["attributes"]["service.name"] == "llm-gateway-worker"
    for name in ("gateway", "worker"):
        text = next(p for p in stack.procs if p.name == name).log_text()
        assert secret not in text and FAKE_KEY not in text and "trace me" not in text


def test_a_streams_gateway_span_ends_with_the_stream_and_its_usage(traced: tuple[Stack, str]) -> None:
    stack, secret = traced

    def with_usage() -> list[dict[str, Any]]:
        return [s for s in spans(stack, "gateway") if "gen_ai.usage.output_tokens" in s["attributes"]]

    before = len(with_usage())
    client = openai.OpenAI(base_url=stack.base_url, api_key=secret, max_retries=0, timeout=20)
    chunks = list(client.chat.completions.create(model="gpt-traced", messages=[{"role": "user", "content": "a stream"}],
                                                 stream=True, stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    assert usage is not None
    # the span ends only when the stream did, carrying the usage of its last frame
    wait_until(lambda: len(with_usage()) == before + 1, 10, "the stream's gateway span")
    span = with_usage()[-1]
    assert span["attributes"]["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert span["attributes"]["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert span["status"]["status_code"] == "UNSET"
