"""Optional OpenTelemetry traces: gateway -> NATS -> worker -> upstream.

On only when the `otel` extra is installed (requirements/otel.txt) and the standard
environment asks for traces (`OTEL_TRACES_EXPORTER`, `OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set; `OTEL_SDK_DISABLED=true` or
`OTEL_TRACES_EXPORTER=none` turn it off). Otherwise every function here returns at its
first line: no span, no header, nothing imported beyond this module.

Spans: the gateway's `chat <model>` (one per attempt, a fallback is a second span) ends
when the response does (a stream: at its end); its context travels in the job's NATS
message headers (W3C `traceparent`), so the worker's `chat <model>` span is its child and
the upstream HTTP call (`POST`) a child of that. GenAI semantic-convention attributes:
`gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`,
`gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`; `error.type` on failures.
Never a prompt, a body or a key.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gateway.contracts.environment import Environment, environment

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind, StatusCode

    AVAILABLE = True
except ImportError:  # NOTE: the optional `otel` extra is not installed: tracing stays off
    AVAILABLE = False

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

    from gateway.contracts.openai import Usage

# gen_ai.provider.name for our provider kinds (semantic conventions' well-known values)
PROVIDER_NAMES = {"openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini"}
OPERATIONS = {"chat": "chat", "embed": "embeddings"}

# PERF: off, the per-job context managers are this one stateless object (no generator made)
_OFF: AbstractContextManager[None] = nullcontext()
_tracer: Tracer | None = None
_provider: TracerProvider | None = None


def requested(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard OTEL_* environment asks for traces."""
    return Environment.from_env(env).traces_requested


def _exporter() -> SpanExporter:
    kind = environment().traces_exporter
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # one JSON object per line on stderr, beside the process's own log lines
        return ConsoleSpanExporter(out=sys.stderr, formatter=lambda span: span.to_json(indent=None) + "\n")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout: from OTEL_EXPORTER_OTLP_*


def setup(process: str, exporter: SpanExporter | None = None) -> bool:
    """Turn tracing on for this process if installed and requested; True when on.

    `process` names the service (`llm-gateway-<process>`) unless `OTEL_SERVICE_NAME` does.
    """
    global _tracer, _provider
    if not AVAILABLE or (exporter is None and not requested()):
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if environment().otel_service_name_text else {"service.name": f"llm-gateway-{process}"}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(exporter or _exporter()))
    _tracer, _provider = provider.get_tracer("llm-gateway"), provider
    return True


def flush() -> None:
    """Export every finished span now (tests; the SDK also flushes at exit)."""
    if _provider is not None:
        _provider.force_flush()


def reset() -> None:
    """Tracing off again (tests)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer, _provider = None, None


def enabled() -> bool:
    """Whether spans are made in this process."""
    return _tracer is not None


def _gen_ai(op: str, model: str, provider_kind: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"gen_ai.operation.name": OPERATIONS.get(op, op), "gen_ai.request.model": model}
    if provider_kind is not None:
        attributes["gen_ai.provider.name"] = PROVIDER_NAMES.get(provider_kind, provider_kind)
    return attributes


# ---------------------------------------------------------------- gateway side (greenlets)


def start_request(op: str, model: str, provider: str, subject: str) -> Span | None:
    """The gateway's span of one attempt (not current: it ends in `end_request`)."""
    tracer = _tracer
    if tracer is None:
        return None
    attributes = _gen_ai(op, model, None)
    attributes.update({"messaging.system": "nats", "messaging.destination.name": subject,
                       "llm_gateway.provider": provider})
    return tracer.start_span(f"{OPERATIONS.get(op, op)} {model}", kind=SpanKind.CLIENT, attributes=attributes)


def headers(span: Span | None) -> dict[str, str] | None:
    """NATS message headers carrying `span`'s context (None without a span)."""
    if span is None:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return carrier


def end_request(span: Span | None, usage: Usage | None = None, status: int | None = None,
                error: str | None = None) -> None:
    """End the gateway's span with the usage billed, or with the error it answered."""
    if span is None:
        return
    if usage is not None:
        span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if error is not None:
        span.set_attribute("error.type", error)
        span.set_status(StatusCode.ERROR, error)
    span.end()


# ---------------------------------------------------------------- worker side (asyncio)


def job(op: str, model: str, upstream_model: str, provider_kind: str, request_id: str,
        carrier: Mapping[str, str] | None) -> AbstractContextManager[None]:
    """The worker's span of one job, the current span inside; a child of the gateway's."""
    if _tracer is None:
        return _OFF
    return _job(_tracer, op, model, upstream_model, provider_kind, request_id, carrier)


@contextmanager
def _job(tracer: Tracer, op: str, model: str, upstream_model: str, provider_kind: str, request_id: str,
         carrier: Mapping[str, str] | None) -> Iterator[None]:
    parent = propagate.extract(dict(carrier or {}))
    attributes = _gen_ai(op, upstream_model, provider_kind)
    attributes.update({"messaging.system": "nats", "llm_gateway.request_id": request_id,
                       "llm_gateway.model": model})
    with tracer.start_as_current_span(f"{OPERATIONS.get(op, op)} {upstream_model}", context=parent,
                                      kind=SpanKind.CONSUMER, attributes=attributes):
        yield


def job_finished(input_tokens: int, output_tokens: int, status: str, error_code: str | None) -> None:
    """Usage and outcome on the current job span."""
    if _tracer is None:
        return
    span = trace.get_current_span()
    span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
    if status != "ok":
        span.set_attribute("error.type", error_code or status)
        span.set_status(StatusCode.ERROR, error_code or status)


def upstream_call(method: str, url: str) -> AbstractContextManager[Span | None]:
    """The HTTP call to the upstream, a child of the current job span."""
    if _tracer is None:
        return _OFF
    return _upstream_call(_tracer, method, url)


@contextmanager
def _upstream_call(tracer: Tracer, method: str, url: str) -> Iterator[Span]:
    parts = urlsplit(url)
    attributes: dict[str, Any] = {"http.request.method": method, "server.address": parts.hostname or "",
                                  "url.path": parts.path}  # NOTE: never the query (it may hold a key)
    if parts.port:
        attributes["server.port"] = parts.port
    with tracer.start_as_current_span(method, kind=SpanKind.CLIENT, attributes=attributes) as span:
        yield span


def upstream_status(span: Span | None, status: int) -> None:
    """The upstream's HTTP status on its span."""
    if span is None:
        return
    span.set_attribute("http.response.status_code", status)
    if status >= 400:
        span.set_attribute("error.type", str(status))
        span.set_status(StatusCode.ERROR)
