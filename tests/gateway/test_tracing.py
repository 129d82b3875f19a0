"""gateway/runtime/tracing.py: off by default and then a no-op; on, one trace from gateway to upstream."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway.runtime import tracing
from gateway.contracts.openai import Usage


@pytest.mark.parametrize(("env", "wanted"), [
    ({}, False),
    ({"OTEL_SERVICE_NAME": "x"}, False),  # naming a service sends nothing anywhere
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, False),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, False),
])
def test_tracing_is_requested_only_by_the_standard_environment(env: dict[str, str], wanted: bool) -> None:
    assert tracing.requested(env) is wanted


def test_off_everything_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    tracing.reset()
    assert tracing.setup("test") is False and not tracing.enabled()
    span = tracing.start_request("chat", "m", "p", "llm.chat.p")
    assert span is None and tracing.headers(span) is None
    tracing.end_request(span, Usage(prompt_tokens=1))
    with tracing.job("chat", "m", "u", "openai", "req_1", None):
        tracing.job_finished(1, 2, "ok", None)
    with tracing.upstream_call("POST", "https://example.invalid/v1/chat") as upstream:
        assert upstream is None


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.setup("test", exporter=exporter)
    yield exporter
    tracing.reset()


def test_one_trace_runs_from_the_gateway_through_nats_headers_to_the_upstream_call(
        spans: InMemorySpanExporter) -> None:
    gateway = tracing.start_request("chat", "claude-x", "claude", "llm.chat.claude")
    carrier = tracing.headers(gateway)
    assert carrier is not None and carrier["traceparent"].startswith("00-")

    async def worker() -> None:  # the worker's side runs in an asyncio task, as in workers/main.py
        with tracing.job("chat", "claude-x", "claude-upstream-1", "anthropic", "req_9", carrier):
            with tracing.upstream_call("POST", "https://api.example.invalid:8443/v1/messages?key=secret") as up:
                tracing.upstream_status(up, 200)
            tracing.job_finished(11, 7, "ok", None)

    asyncio.run(worker())
    tracing.end_request(gateway, Usage(prompt_tokens=11, completion_tokens=7, total_tokens=18))
    tracing.flush()
    by_name = {s.name: s for s in spans.get_finished_spans()}
    front, job, upstream = by_name["chat claude-x"], by_name["chat claude-upstream-1"], by_name["POST"]
    assert front.kind == SpanKind.CLIENT and job.kind == SpanKind.CONSUMER and upstream.kind == SpanKind.CLIENT
    assert front.context.trace_id == job.context.trace_id == upstream.context.trace_id
    assert job.parent is not None and job.parent.span_id == front.context.span_id
    assert upstream.parent is not None and upstream.parent.span_id == job.context.span_id
    assert front.attributes is not None and job.attributes is not None and upstream.attributes is not None
    assert front.attributes["gen_ai.operation.name"] == "chat" and front.attributes["gen_ai.request.model"] == "claude-x"
    assert front.attributes["gen_ai.usage.input_tokens"] == 11 and front.attributes["gen_ai.usage.output_tokens"] == 7
    assert front.attributes["messaging.destination.name"] == "llm.chat.claude"
    assert job.attributes["gen_ai.provider.name"] == "anthropic"
    assert job.attributes["gen_ai.request.model"] == "claude-upstream-1"
    assert job.attributes["gen_ai.usage.output_tokens"] == 7 and job.attributes["llm_gateway.request_id"] == "req_9"
    assert upstream.attributes["server.address"] == "api.example.invalid" and upstream.attributes["server.port"] == 8443
    assert upstream.attributes["http.response.status_code"] == 200
    assert "secret" not in str(dict(upstream.attributes))


def test_failures_mark_the_spans(spans: InMemorySpanExporter) -> None:
    gateway = tracing.start_request("embed", "gem-embed", "gemini", "llm.embed.gemini")
    tracing.end_request(gateway, status=503, error="no_worker_available")

    async def worker() -> None:
        with tracing.job("embed", "gem-embed", "gemini-embedding", "gemini", "req_2", tracing.headers(gateway)):
            with tracing.upstream_call("POST", "https://g.example.invalid/v1beta/x") as up:
                tracing.upstream_status(up, 429)
            tracing.job_finished(0, 0, "error", "rate_limit_exceeded")

    asyncio.run(worker())
    tracing.flush()
    by_name = {s.name: s for s in spans.get_finished_spans()}
    front, job, upstream = by_name["embeddings gem-embed"], by_name["embeddings gemini-embedding"], by_name["POST"]
    assert front.status.status_code == StatusCode.ERROR and front.attributes is not None
    assert front.attributes["error.type"] == "no_worker_available" and front.attributes["http.response.status_code"] == 503
    assert job.status.status_code == StatusCode.ERROR and job.attributes is not None
    assert job.attributes["error.type"] == "rate_limit_exceeded" and job.attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert upstream.status.status_code == StatusCode.ERROR
