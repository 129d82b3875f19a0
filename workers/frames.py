"""FrameSink: a job's ordered frames to the gateway's reply inbox, in its dialect.

Frames of one job are published on one NATS connection, which keeps their order. The
sink remembers whether anything was sent, so an error after output becomes an SSE error
event at the gateway rather than a status. What the job's pump writes (chat chunks, a
whole answer, a pass-through's events) leaves through the sink's `Output`, the job's
inbound dialect's mapper (workers/dialects/): as is for chat and pass-throughs,
converted for a dialect whose request was converted to chat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

import msgspec

from gateway.contracts.bus import FRAME_ENCODER, Chunk, Done, Error, Frame, Heartbeat, Result, ResultPart
from gateway.contracts.errors import APIError, OpenAIError
from gateway.contracts.openai import Usage

_JSON = msgspec.json.Encoder()
Item = msgspec.Struct | msgspec.Raw


FRAME_OVERHEAD = 4096  # headroom for the frame's own fields and the NATS message header


class Publisher(Protocol):
    """The part of a NATS client the sink needs."""

    @property
    def max_payload(self) -> int:
        """The largest message the server accepts."""
        ...

    async def publish(self, subject: str, payload: bytes = b"", reply: str = "", headers: dict[str, str] | None = None) -> None:
        """Publish one message."""
        ...


class Output(Protocol):
    """How one job's output leaves in its inbound dialect (workers/dialects/<name>/).

    One instance per job. The conversions are pure; `settle` is the one side effect: it
    keeps the finished answer (the Responses store) before its last events leave.
    """

    def result(self, body: Item, usage: Usage) -> Item:
        """A whole response."""
        ...

    def chunk(self, item: Item) -> Sequence[Item]:
        """The events for one chunk or pass-through event (maybe none)."""
        ...

    def done(self, usage: Usage) -> Sequence[Item]:
        """The last events, once the stream's usage is known."""
        ...

    def failed(self, error: OpenAIError) -> Sequence[Item] | None:
        """The events that end a stream on `error`; None: an error frame, which the gateway
        answers as an HTTP error before output and frames in the dialect after it
        (gateway/sse_framing.py). Asked before output too: a dialect may report an error
        in-stream as its API does (Responses: a context overflow)."""
        ...

    async def settle(self) -> None:
        """Keep the finished answer, if one became known, before it leaves."""
        ...


class Relayed:
    """The Output of chat, and of a pass-through: everything leaves as it came."""

    def result(self, body: Item, usage: Usage) -> Item:
        """As is."""
        return body

    def chunk(self, item: Item) -> list[Item]:
        """As is."""
        return [item]

    def done(self, usage: Usage) -> list[Item]:
        """No closing events."""
        return []

    def failed(self, error: OpenAIError) -> list[Item] | None:
        """An error frame."""
        return None

    async def settle(self) -> None:
        """Nothing to keep."""


RELAYED = Relayed()


class FrameSink:
    """Sends one job's frames, in order, to its reply subject, through its `output`."""

    def __init__(self, nc: Publisher, reply: str, on_first_output: Callable[[], None] | None = None,
                 output: Output = RELAYED) -> None:
        self._nc = nc
        self.reply = reply
        self.started = False  # a chunk or result was sent
        self._on_first_output = on_first_output  # the worker's latency sample (workers/load.py)
        self.output = output  # set by the service once the job's dialect chose it
        # Parameters the model refuses that the provider left out: sent on the first frame.
        self.dropped: list[str] | None = None

    def _first_output(self) -> None:
        if not self.started and self._on_first_output is not None:
            self._on_first_output()

    async def _send(self, frame: Frame) -> None:
        if self.reply:
            await self._nc.publish(self.reply, FRAME_ENCODER.encode(frame))

    async def _chunk(self, chunk: Item) -> None:
        first = not self.started
        self._first_output()
        self.started = True
        await self._send(Chunk(_JSON.encode(chunk), self.dropped if first else None))
        if first:
            # PERF: let the NATS flusher send the first chunk now, before this task goes
            # on converting the rest of a burst (time to first byte).
            await asyncio.sleep(0)

    async def chunk(self, chunk: Item) -> None:
        """One chunk (or pass-through event): its events in the dialect, each one chunk
        frame, encoded once here."""
        output = self.output
        if output is RELAYED and self.started and self.reply:
            # PERF: the common case (chat and pass-throughs after their first chunk): as is,
            # nothing to keep, straight to the bus
            await self._nc.publish(self.reply, FRAME_ENCODER.encode(Chunk(_JSON.encode(chunk))))
            return
        events = output.chunk(chunk)
        await output.settle()
        for event in events:
            await self._chunk(event)

    async def result(self, body: Item, usage: Usage | None = None) -> None:
        """A whole response body, with its usage (the gateway settles limits from it).

        A body larger than one bus message leaves in `result_part`s; the `result` frame
        carries the last piece.
        """
        answer = self.output.result(body, usage or Usage())
        await self.output.settle()
        self._first_output()
        self.started = True
        data = _JSON.encode(answer)
        piece = max(1024, self._nc.max_payload - FRAME_OVERHEAD)
        while len(data) > piece:
            await self._send(ResultPart(data[:piece]))
            data = data[piece:]
        await self._send(Result(data, usage, self.dropped))

    async def error(self, ex: APIError) -> None:
        """An error: a status before output; after it, the dialect's closing events, or an
        error frame the gateway frames as an SSE error event."""
        events = self.output.failed(ex.error)
        if events is None:
            await self._send(Error(ex.status, ex.error, ex.retry_after))
            return
        for event in events:
            await self._chunk(event)
        await self._send(Done(None))

    async def done(self, usage: Usage | None) -> None:
        """The dialect's closing events, then the end of the stream."""
        events = self.output.done(usage or Usage())
        await self.output.settle()
        for event in events:
            await self._chunk(event)
        await self._send(Done(usage))

    async def heartbeat(self) -> None:
        """Still working."""
        await self._send(Heartbeat())
