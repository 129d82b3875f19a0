"""Frames -> the HTTP response: one JSON body, or SSE written chunk by chunk.

The status is decided by the first frame, so an error before any output (a conversion
400, an upstream 429, no worker) is still a plain JSON error with the right status.
After the first chunk, an error becomes an SSE error event followed by `[DONE]`. Each
inbound dialect frames its stream its own way (gateway/sse_framing.py, by the Job's `dialect`):
Responses events come from the worker already framed (`event:` + `data:`), end without
`[DONE]`, and a gateway-made error is a Responses `error` event.
Heartbeats reset the idle timer; mid-stream, each one checks that the client is still
there (the client-gone probe: a write to a vanished client succeeds once more, so writing
alone notices it a heartbeat late) and, when no chunk went out since the previous
heartbeat, becomes an SSE comment that keeps proxies from timing out a silent stream.
When the response iterator is closed early (gunicorn closes it when a write fails) or
the client is gone, the worker is told to cancel.

A live worker sends a frame at least every `[workers] heartbeat_s` (its heartbeat runs
whether or not chunks flow), so silence for about two heartbeats (`LOST_AFTER_HEARTBEATS`,
at least `MIN_LOST_AFTER_S`) means the worker is gone: the request ends with 502
`worker_lost` (an error event mid-stream), and the gateway bills an estimate of what it
relayed, marked estimated, under `<request_id>:gateway` (a late event of the worker
itself still replaces that row in the ledger, so there is one row either way).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import falcon
import gevent.queue
import msgspec

from gateway.bus_client import BUS_DOWN, NO_RESPONDERS, SHUTDOWN, Bridge, Reply
from gateway.disconnect import Probe
from gateway.contracts.bus import (
    EVENT_ENCODER,
    FRAME_DECODER,
    JOB_ENCODER,
    MSG_ID_HEADER,
    CANCEL_CLIENT,
    CANCEL_SHUTDOWN,
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
    cancel_subject,
    usage_event,
)
from gateway.contracts.config import GatewaySettings
from gateway.contracts.errors import (
    APIError,
    bus_unavailable,
    client_closed,
    no_worker,
    relayed,
    request_too_large_for_bus,
    shutting_down,
    upstream_error,
    upstream_timeout,
    worker_lost,
)
from gateway.contracts.log import Logger
from gateway.contracts.openai import Usage
from gateway.runtime.estimate import prompt_from_bytes, tokens_from_chars
from gateway.sse_framing import ChatFraming, Framing

OnEnd = Callable[[Usage | None], None]
_CHAT = ChatFraming()

KEEPALIVE = b": keep-alive\n\n"
_CANCEL = msgspec.msgpack.Encoder()
PROBE_INTERVAL_S = 1.0
LOST_AFTER_HEARTBEATS = 2.5  # two heartbeats and half of one for scheduling jitter
MIN_LOST_AFTER_S = 1.0


def relayed_estimate(job: Job, chars: int) -> Usage:
    """An estimate of what a cut stream spent: the prompt from the body's size, the output
    from the characters relayed (as workers estimate an upstream that reports nothing)."""
    prompt = prompt_from_bytes(len(job.body))
    completion = tokens_from_chars(chars)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)




class Relay:
    """Publishes a Job and turns its frames into the response."""

    def __init__(self, bridge: Bridge, settings: GatewaySettings, log: Logger,
                 clock: Callable[[], float] = time.time, heartbeat_s: float | None = None) -> None:
        self._bridge = bridge
        self._settings = settings
        self._log = log
        self._clock = clock
        # Silence longer than this: the worker is gone (None: only the idle timeout applies).
        self._lost_after = (None if heartbeat_s is None
                            else max(MIN_LOST_AFTER_S, LOST_AFTER_HEARTBEATS * heartbeat_s))

    def respond(self, resp: falcon.Response, job: Job, subject: str, on_end: OnEnd | None = None,
                client_gone: Probe | None = None, headers: dict[str, str] | None = None,
                framing: Framing | None = None) -> None:
        """Dispatch `job` and fill `resp` from its frames (raises APIError before output).

        A stream is written in `framing` (default: the one of the job's dialect).

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
        if self._bridge.down:
            raise bus_unavailable()
        if self._bridge.draining:
            raise shutting_down()
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
        resp.stream = self._stream(reply, job, first, end, client_gone, framing)

    def _next(self, reply: Reply, job: Job, client_gone: Probe | None = None) -> Frame | None:
        """The next frame; None when nothing came in time (idle or deadline).

        Raises 502 `worker_lost` after the worker's heartbeats stopped. With `client_gone`,
        waits in slices and gives up (cancelling the job) as soon as the client has closed
        its connection.
        """
        left = job.deadline - self._clock()
        wait = min(self._settings.idle_timeout_s, left)
        lost = self._lost_after is not None and self._lost_after < wait
        if lost:
            assert self._lost_after is not None
            wait = self._lost_after
        while True:
            if wait <= 0:
                if lost:
                    raise worker_lost()
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
        if item is BUS_DOWN:
            self._cancel(job)  # NOTE: sent once NATS is back, so the worker stops paying upstream
            raise bus_unavailable()
        if item is SHUTDOWN:
            # The worker bills what the upstream reported so far, with status "cut"; the
            # flush makes sure the cancel leaves before this process exits.
            self._cancel(job, CANCEL_SHUTDOWN)
            self._bridge.flush(2.0)
            raise shutting_down("The gateway is shutting down and ended the request at its grace period.")
        frame: Frame = FRAME_DECODER.decode(item)
        return frame

    def _check_client(self, job: Job, client_gone: Probe | None) -> None:
        """Cancel the job and stop waiting once the client has hung up."""
        if client_gone is not None and client_gone():
            self._cancel(job)
            raise client_closed()

    def _first_output(self, reply: Reply, job: Job, client_gone: Probe | None) -> Chunk | Result:
        parts: list[bytes] = []
        while True:
            try:
                frame = self._next(reply, job, client_gone)
            except APIError as ex:
                if ex.error.code == "worker_lost":
                    self._cancel(job)  # NOTE: in case it is only stuck, not dead
                    self._record_lost(job, "worker_lost")
                raise
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
                    raise relayed(status, error, retry_after)
                case Done():
                    raise upstream_error("The worker ended the request without an answer.")

    def _stream(self, reply: Reply, job: Job, first: Chunk | Result, end: OnEnd,
                client_gone: Probe | None = None, framing: Framing | None = None) -> Iterator[bytes]:
        finished = False
        framing = framing or _CHAT  # a dialect's spec names its own (gateway/dialects/)
        # A chunk went out since the last heartbeat: the upstream is not silent, and a
        # keep-alive comment between flowing frames would only cost bytes (issue 14.7).
        flowing = True
        chars = framing.output_chars(first.data)  # relayed so far: billed as an estimate if the worker dies
        try:
            yield framing.event(first.data)
            while True:
                try:
                    frame = self._next(reply, job)
                except APIError as ex:
                    if ex.error.code == "worker_lost":
                        self._cancel(job)  # NOTE: in case it is only stuck, not dead
                        end(self._record_lost(job, "worker_lost", chars))
                    frame = Error(ex.status, ex.error)
                match frame:
                    case None:
                        end(self._record_lost(job, "stream_stalled", chars))
                        stalled = upstream_timeout("The stream stalled: no data before the deadline.")
                        yield framing.error(stalled)
                        return
                    case Chunk(data=data):
                        flowing = True
                        chars += framing.output_chars(data)
                        yield framing.event(data)
                    case Heartbeat():
                        # NOTE: the first write after a client hung up still succeeds, so
                        # writing alone would notice it a heartbeat late; the probe does not.
                        if client_gone is not None and client_gone():
                            self._log.info("client_gone", request_id=job.request_id)
                            return  # the finally below cancels the job
                        if not flowing:
                            yield KEEPALIVE
                        flowing = False
                    case Error(status=status, error=error):
                        finished = True  # NOTE: the worker ended the job itself; no cancel
                        yield framing.error(relayed(status, error))
                        return
                    case Done(usage=usage):
                        finished = True
                        end(usage)
                        if closing := framing.end():
                            yield closing
                        return
                    case Result() | ResultPart():
                        continue  # not sent on streams; ignored rather than corrupting SSE
        finally:
            reply.close()
            end(None)
            if not finished:
                self._cancel(job)

    def _record_lost(self, job: Job, code: str, relayed_chars: int = 0) -> Usage | None:
        """A failure record for a job whose worker went silent: billing shows the request
        as failed unless the worker's own event (same request id) arrives and replaces it.

        When output was relayed, the record bills an estimate of it (marked estimated),
        which is returned; nothing relayed bills nothing (None).
        """
        now = self._clock()
        usage = relayed_estimate(job, relayed_chars) if relayed_chars else None
        event = usage_event(job, usage, estimated=usage is not None, status="error", error_code=code,
                            started_at=now, finished_at=now, source="gateway")
        headers = {MSG_ID_HEADER: f"{job.request_id}:gateway"}
        self._bridge.publish(USAGE_SUBJECT, EVENT_ENCODER.encode(event), headers)
        return usage

    def _cancel(self, job: Job, reason: str = CANCEL_CLIENT) -> None:
        self._bridge.publish(cancel_subject(job.request_id), _CANCEL.encode(Cancel(job.request_id, reason)))
        self._log.info("cancel_sent", request_id=job.request_id, reason=reason)
