"""Frames -> the HTTP response: one JSON body, or SSE written chunk by chunk.

The status is decided by the first frame, so an error before any output (a conversion
400, an upstream 429, no worker) is still a plain JSON error with the right status.
After the first chunk, an error becomes an SSE error event followed by `[DONE]`.
Heartbeats reset the idle timer and, mid-stream, become SSE comments: writing them is
also how a vanished client is noticed while the upstream is silent. When the response
iterator is closed early (gunicorn closes it when a write fails) the worker is told to
cancel.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import falcon
import gevent.queue
import msgspec

from gateway.bus_client import NO_RESPONDERS, Bridge, Reply
from gateway.disconnect import Probe
from gateway.contracts.bus import (
    EVENT_ENCODER,
    FRAME_DECODER,
    JOB_ENCODER,
    MSG_ID_HEADER,
    USAGE_SUBJECT,
    Cancel,
    Chunk,
    Done,
    Error,
    Frame,
    Heartbeat,
    Job,
    Result,
    ResultPart,
    UsageEvent,
    cancel_subject,
)
from gateway.contracts.config import GatewaySettings
from gateway.contracts.errors import APIError, ErrorBody, OpenAIError, no_worker, upstream_timeout


def request_too_large_for_bus(limit: int) -> APIError:
    """413: the request does not fit one message of the bus (its server's max_payload)."""
    return APIError(
        413,
        OpenAIError(
            f"The request is larger than the message bus accepts ({limit} bytes); "
            "the operator can raise max_payload on the NATS server.",
            "invalid_request_error",
            None,
            "request_too_large",
        ),
    )
from gateway.contracts.log import Logger
from gateway.contracts.openai import Usage

OnEnd = Callable[[Usage | None], None]

DONE_EVENT = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"
_CANCEL = msgspec.msgpack.Encoder()
PROBE_INTERVAL_S = 1.0
CLIENT_GONE = OpenAIError("The client closed the request.", "invalid_request_error", None, "client_closed_request")
EMPTY_ANSWER = OpenAIError(
    "The worker ended the request without an answer.", "upstream_error", None, "upstream_error"
)
_ERROR = msgspec.json.Encoder()


def error_event(ex: APIError) -> bytes:
    """An OpenAI-shaped mid-stream error event (the SDK raises APIError on it)."""
    return b"data: " + _ERROR.encode(ErrorBody(ex.error)) + b"\n\n"


class Relay:
    """Publishes a Job and turns its frames into the response."""

    def __init__(self, bridge: Bridge, settings: GatewaySettings, log: Logger,
                 clock: Callable[[], float] = time.time) -> None:
        self._bridge = bridge
        self._settings = settings
        self._log = log
        self._clock = clock

    def respond(self, resp: falcon.Response, job: Job, subject: str, on_end: OnEnd | None = None,
                client_gone: Probe | None = None, headers: dict[str, str] | None = None) -> None:
        """Dispatch `job` and fill `resp` from its frames (raises APIError before output).

        `on_end(usage)` runs exactly once when a response was produced (usage None when
        unknown); when this raises instead, nothing was sent and settling is the
        caller's (it may still try a fallback model).
        """
        ended = False

        def end(usage: Usage | None) -> None:
            nonlocal ended
            if not ended:
                ended = True
                if on_end is not None:
                    on_end(usage)

        if not self._bridge.ready and not self._bridge.wait_ready(5.0):
            raise no_worker("The gateway is not connected to the message bus yet.")
        payload = JOB_ENCODER.encode(job)
        if len(payload) > self._bridge.max_payload:
            raise request_too_large_for_bus(self._bridge.max_payload)
        reply = self._bridge.request(subject, payload, headers)  # headers: trace context, when tracing
        try:
            first = self._first_output(reply, job, client_gone)
        except BaseException:
            reply.close()
            raise
        if isinstance(first, Result):
            reply.close()
            end(first.usage)
            resp.content_type = falcon.MEDIA_JSON
            resp.data = first.data
            return
        resp.content_type = "text/event-stream"
        resp.set_header("cache-control", "no-cache")
        resp.set_header("x-accel-buffering", "no")
        resp.stream = self._stream(reply, job, first, end)

    def _next(self, reply: Reply, job: Job, client_gone: Probe | None = None) -> Frame | None:
        """The next frame; None when nothing came in time (idle or deadline).

        With `client_gone`, waits in slices and gives up (cancelling the job) as soon as
        the client has closed its connection.
        """
        wait = min(self._settings.idle_timeout_s, job.deadline - self._clock())
        while True:
            if wait <= 0:
                return None
            step = min(wait, PROBE_INTERVAL_S) if client_gone is not None else wait
            try:
                item = reply.get(step)
                break
            except gevent.queue.Empty:
                wait -= step
                self._check_client(job, client_gone)
        if item is NO_RESPONDERS:
            raise no_worker(f"No worker is available for provider '{job.provider}'.")
        frame: Frame = FRAME_DECODER.decode(item)
        return frame

    def _check_client(self, job: Job, client_gone: Probe | None) -> None:
        """Cancel the job and stop waiting once the client has hung up."""
        if client_gone is not None and client_gone():
            self._cancel(job)
            raise APIError(499, CLIENT_GONE)

    def _first_output(self, reply: Reply, job: Job, client_gone: Probe | None) -> Chunk | Result:
        parts: list[bytes] = []
        while True:
            frame = self._next(reply, job, client_gone)
            match frame:
                case ResultPart(data=data):
                    parts.append(data)
                case Result(data=data, usage=usage) if parts:
                    return Result(b"".join([*parts, data]), usage)
                case None:
                    self._cancel(job)
                    self._record_lost(job, "upstream_timeout")
                    raise upstream_timeout("No answer from the worker before the deadline.")
                case Heartbeat():
                    self._check_client(job, client_gone)
                case Chunk() | Result():
                    return frame
                case Error(status=status, error=error, retry_after=retry_after):
                    raise APIError(status, error, retry_after)
                case Done():
                    raise APIError(502, EMPTY_ANSWER)

    def _stream(self, reply: Reply, job: Job, first: Chunk | Result, end: OnEnd) -> Iterator[bytes]:
        finished = False
        try:
            yield b"data: " + first.data + b"\n\n"
            while True:
                try:
                    frame = self._next(reply, job)
                except APIError as ex:
                    frame = Error(ex.status, ex.error)
                match frame:
                    case None:
                        self._record_lost(job, "stream_stalled")
                        stalled = upstream_timeout("The stream stalled: no data before the deadline.")
                        yield error_event(stalled)
                        yield DONE_EVENT
                        return
                    case Chunk(data=data):
                        yield b"data: " + data + b"\n\n"
                    case Heartbeat():
                        yield KEEPALIVE
                    case Error(status=status, error=error):
                        finished = True  # NOTE: the worker ended the job itself; no cancel
                        yield error_event(APIError(status, error))
                        yield DONE_EVENT
                        return
                    case Done(usage=usage):
                        finished = True
                        end(usage)
                        yield DONE_EVENT
                        return
                    case Result() | ResultPart():
                        continue  # not sent on streams; ignored rather than corrupting SSE
        finally:
            reply.close()
            end(None)
            if not finished:
                self._cancel(job)

    def _record_lost(self, job: Job, code: str) -> None:
        """A failure record for a job whose worker went silent: billing shows the request
        as failed unless the worker's own event (same request id) arrives and replaces it."""
        now = self._clock()
        event = UsageEvent(
            request_id=job.request_id, key_id=job.key_id, key_name=job.key_name, model=job.model,
            provider=job.provider, upstream_model=job.upstream_model, op=job.op, status="error",
            error_code=code, stream=job.stream, started_at=now, finished_at=now, source="gateway",
        )
        headers = {MSG_ID_HEADER: f"{job.request_id}:gateway"}
        self._bridge.publish(USAGE_SUBJECT, EVENT_ENCODER.encode(event), headers)

    def _cancel(self, job: Job) -> None:
        self._bridge.publish(cancel_subject(job.request_id), _CANCEL.encode(Cancel(job.request_id)))
        self._log.info("cancel_sent", request_id=job.request_id)
