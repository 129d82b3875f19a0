"""Per-request context: our request id, the caller's correlation id, one access-log line
and the request's metrics, written once the response is complete (a stream: at its end)."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import falcon

from gateway.contracts.bus import DROPPED_PARAMS_HEADER
from gateway.contracts.log import Logger
from gateway.contracts.openai import Usage
from gateway.runtime.metrics import GatewayMetrics

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _RequestIds:
    """`req_<random per process><counter>`: unique across processes without a random
    read per request (PERF: secrets.token_hex is a system call)."""

    def __init__(self) -> None:
        self._pid = 0
        self._prefix = ""
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        pid = os.getpid()
        if pid != self._pid:  # NOTE: a forked process must not share its parent's ids
            self._pid, self._prefix, self._counter = pid, secrets.token_hex(8), itertools.count(1)
        return f"req_{self._prefix}{next(self._counter):012x}"


new_request_id = _RequestIds()
"""A request id; it keys billing (Nats-Msg-Id), so it is always ours, never the caller's."""


class _Finishing:
    """Wraps a response stream; `on_close` runs once when the server closes it (WSGI close())."""

    def __init__(self, inner: Iterator[bytes], on_close: Callable[[], None]) -> None:
        self._inner = inner
        self._on_close: Callable[[], None] | None = on_close

    def __iter__(self) -> _Finishing:
        return self

    def __next__(self) -> bytes:
        return next(self._inner)

    def close(self) -> None:
        """Close the inner stream, then finish the request."""
        on_close, self._on_close = self._on_close, None
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            if on_close is not None:
                on_close()


class RequestContext:
    """Sets `req.context.request_id`, echoes it as `x-request-id`, logs one line a request.

    Resources fill in what they learn (`key`, `model`, `provider`, `usage`, `fallbacks`,
    `refused`, `first_output`); the line and the metrics are written when the response
    is complete: at once for a JSON body, when the server closes it for a stream.
    """

    def __init__(self, log: Logger, metrics: GatewayMetrics | None = None) -> None:
        self._log = log
        self._metrics = metrics

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Assign ids and start the clock."""
        req.context.request_id = new_request_id()
        client_id = req.get_header("x-request-id")
        req.context.client_request_id = client_id if client_id and _CLIENT_ID.match(client_id) else None
        req.context.started = time.perf_counter()
        req.context.key = None
        req.context.model = None
        req.context.provider = None  # set once the model resolved to a configured one
        req.context.model_label = None  # the metrics label: the configured entry (dispatch sets it)
        req.context.usage = None
        req.context.fallbacks = 0
        req.context.refused = None
        req.context.first_output = None
        req.context.dropped_params = None
        if self._metrics is not None:
            self._metrics.started()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        """Echo the id; write the line now, or when the stream ends."""
        request_id = getattr(req.context, "request_id", None)
        if request_id is None:
            return
        resp.set_header("x-request-id", request_id)
        # What the model refuses and the worker left out (gateway/relay.py set the header).
        req.context.dropped_params = resp.get_header(DROPPED_PARAMS_HEADER)
        status = resp.status_code if hasattr(resp, "status_code") else int(str(resp.status)[:3])
        stream = resp.stream
        if isinstance(stream, Iterator) and resp.content_type == "text/event-stream":
            metrics = self._metrics
            if metrics is not None:
                metrics.stream_opened()

            def finished() -> None:
                if metrics is not None:
                    metrics.stream_closed()
                self._finish(req, status, True)

            resp.stream = _Finishing(stream, finished)
        else:
            self._finish(req, status, False)

    def _finish(self, req: falcon.Request, status: int, stream: bool) -> None:
        ctx = req.context
        now = time.perf_counter()
        elapsed = now - ctx.started
        first = ctx.first_output
        key = ctx.key
        usage: Usage | None = ctx.usage
        fields: dict[str, Any] = {}
        if usage is not None:
            fields = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                      "total_tokens": usage.total_tokens, "cached_tokens": usage.cached_tokens()}
        self._log.info(
            "access",
            request_id=ctx.request_id,
            client_request_id=ctx.client_request_id,
            method=req.method,
            path=req.path,
            status=status,
            key_id=key.id if key is not None else None,
            model=ctx.model,
            provider=ctx.provider,
            stream=stream,
            ms=round(elapsed * 1000, 3),
            ttfb_ms=round((first - ctx.started) * 1000, 3) if first is not None else None,
            fallbacks=ctx.fallbacks,
            **({"dropped_params": ctx.dropped_params} if ctx.dropped_params else {}),
            **fields,
        )
        if self._metrics is not None:
            self._observe(self._metrics, req, status, stream, elapsed, usage)

    def _observe(self, m: GatewayMetrics, req: falcon.Request, status: int, stream: bool, elapsed: float,
                 usage: Usage | None) -> None:
        ctx = req.context
        route = req.uri_template or "unmatched"
        # NOTE: a model label only for configured models, by their entry's id (an alias's
        # model, a wildcard entry's pattern): a caller's made-up model names must not grow
        # the series without bound.
        provider = ctx.provider or ""
        model = ctx.model_label if ctx.provider is not None and ctx.model_label else ""
        keyed = [ctx.key.name if ctx.key is not None else ""] if m.key_names else []
        m.active -= 1
        m.in_flight.dec()
        m.requests.labels(route, model, provider, str(status), *keyed).inc()
        m.latency.labels(route, model, provider).observe(elapsed)
        if stream and ctx.first_output is not None:
            m.ttft.labels(model, provider).observe(ctx.first_output - ctx.started)
        if usage is not None:
            m.tokens.labels(model, "input", *keyed).inc(usage.prompt_tokens)
            m.tokens.labels(model, "output", *keyed).inc(usage.completion_tokens)
        if ctx.fallbacks:
            m.fallbacks.labels(model).inc(ctx.fallbacks)
        if ctx.refused:
            m.refusals.labels(ctx.refused).inc()
