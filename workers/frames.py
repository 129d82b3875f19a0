"""FrameSink: a job's ordered frames to the gateway's reply inbox.

Frames of one job are published on one NATS connection, which keeps their order. The
sink remembers whether anything was sent, so an error after output becomes an SSE error
event at the gateway rather than a status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import msgspec

from gateway.contracts.bus import FRAME_ENCODER, Chunk, Done, Error, Frame, Heartbeat, Result, ResultPart
from gateway.contracts.errors import APIError
from gateway.contracts.openai import Usage

_JSON = msgspec.json.Encoder()


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


class FrameSink:
    """Sends one job's frames, in order, to its reply subject."""

    def __init__(self, nc: Publisher, reply: str, on_first_output: Callable[[], None] | None = None) -> None:
        self._nc = nc
        self.reply = reply
        self.started = False  # a chunk or result was sent
        self._on_first_output = on_first_output  # the worker's latency sample (workers/load.py)

    def _first_output(self) -> None:
        if not self.started and self._on_first_output is not None:
            self._on_first_output()

    async def _send(self, frame: Frame) -> None:
        if self.reply:
            await self._nc.publish(self.reply, FRAME_ENCODER.encode(frame))

    async def chunk(self, chunk: msgspec.Struct | msgspec.Raw) -> None:
        """One OpenAI chunk, encoded once here."""
        first = not self.started
        self._first_output()
        self.started = True
        await self._send(Chunk(_JSON.encode(chunk)))
        if first:
            # PERF: let the NATS flusher send the first chunk now, before this task goes
            # on converting the rest of a burst (time to first byte).
            await asyncio.sleep(0)

    async def result(self, body: msgspec.Struct | msgspec.Raw, usage: Usage | None = None) -> None:
        """A whole response body, with its usage (the gateway settles limits from it).

        A body larger than one bus message leaves in `result_part`s; the `result` frame
        carries the last piece.
        """
        self._first_output()
        self.started = True
        data = _JSON.encode(body)
        piece = max(1024, self._nc.max_payload - FRAME_OVERHEAD)
        while len(data) > piece:
            await self._send(ResultPart(data[:piece]))
            data = data[piece:]
        await self._send(Result(data, usage))

    async def error(self, ex: APIError) -> None:
        """An error: a status before output, an SSE error event after it."""
        await self._send(Error(ex.status, ex.error, ex.retry_after))

    async def done(self, usage: Usage | None) -> None:
        """The end of a stream."""
        await self._send(Done(usage))

    async def heartbeat(self) -> None:
        """Still working."""
        await self._send(Heartbeat())


class ChatOutput(Protocol):
    """Converts what a provider produced (the chat shape) into an inbound dialect's output.

    Pure (workers/dialects/<name>/): typed in, typed out; one instance per job.
    """

    def result(self, body: msgspec.Struct | msgspec.Raw, usage: Usage) -> msgspec.Struct:
        """A whole non-stream response."""
        ...

    def chunk(self, chunk: msgspec.Struct | msgspec.Raw) -> list[msgspec.Struct]:
        """The dialect's events for one chat chunk (maybe none)."""
        ...

    def done(self, usage: Usage) -> list[msgspec.Struct]:
        """The dialect's last events, once the stream's usage is known."""
        ...


class ConvertingSink(FrameSink):
    """A FrameSink whose chat output leaves converted to an inbound dialect's shape."""

    def __init__(self, nc: Publisher, reply: str, output: ChatOutput) -> None:
        super().__init__(nc, reply)
        self._output = output

    async def chunk(self, chunk: msgspec.Struct | msgspec.Raw) -> None:
        """Each converted event as one chunk frame."""
        for event in self._output.chunk(chunk):
            await super().chunk(event)

    async def result(self, body: msgspec.Struct | msgspec.Raw, usage: Usage | None = None) -> None:
        """The converted whole response."""
        await super().result(self._output.result(body, usage or Usage()), usage)

    async def done(self, usage: Usage | None) -> None:
        """The dialect's closing events, then the end of the stream."""
        for event in self._output.done(usage or Usage()):
            await super().chunk(event)
        await super().done(usage)
