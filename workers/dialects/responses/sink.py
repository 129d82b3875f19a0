"""ResponsesSink: the job's frames in the Responses dialect.

The service's chat path writes chat chunks, a chat result, `done` and errors to its
sink; this sink turns them into Responses events (stream.py) or the response object
(response.py) on the way out. Each event leaves as one chunk frame already framed as SSE
(`event: <type>` + `data:`), which the gateway writes as is (gateway/sse_framing.py).

Nothing is sent before the upstream's first output, so a refusal before it (a 400, an
upstream 429) is still a plain HTTP error. An error after output becomes `error` +
`response.failed` events and ends the stream. `on_final` runs with the finished
response before the caller sees it complete (storage: a `previous_response_id` sent
right after `response.completed` finds it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec

from gateway.contracts.bus import Chunk
from gateway.contracts.errors import APIError
from gateway.contracts.openai import ChatCompletion, ChatCompletionChunk, Usage
from gateway.contracts.openai_responses import Response, StreamEvent
from workers.dialects.responses.response import NewId, from_completion
from workers.dialects.responses.stream import EventStream
from workers.frames import FrameSink, Publisher

OnFinal = Callable[[Response], Awaitable[None]]
_JSON = msgspec.json.Encoder()
_CHUNK = msgspec.json.Decoder(ChatCompletionChunk)
_COMPLETION = msgspec.json.Decoder(ChatCompletion)


def framed(event_type: str, data: bytes) -> bytes:
    """One SSE event as the Responses API writes it."""
    return b"event: " + event_type.encode() + b"\ndata: " + data + b"\n\n"


async def _nothing(_response: Response) -> None:
    return None


class ResponsesSink(FrameSink):
    """A FrameSink that answers in the Responses dialect (see the module doc)."""

    def __init__(self, nc: Publisher, reply: str, on_first_output: Callable[[], None] | None = None) -> None:
        super().__init__(nc, reply, on_first_output)
        self._events: EventStream | None = None
        self._shell: Response | None = None
        self._new_id: NewId | None = None
        self._namespaces: dict[str, str] = {}
        self._on_final: OnFinal = _nothing
        self.sequence = 0  # pass-through: the next sequence number after the upstream's events

    def convert(self, shell: Response, new_id: NewId, namespaces: dict[str, str], on_final: OnFinal) -> None:
        """Convert chat output from now on into the response `shell`."""
        self._shell, self._new_id, self._namespaces, self._on_final = shell, new_id, namespaces, on_final
        self._events = EventStream(shell, new_id, namespaces)

    async def event(self, event_type: str, data: bytes) -> None:
        """One event (a pass-through upstream's, or ours encoded), framed."""
        first = not self.started
        self.started = True
        await self._send(Chunk(framed(event_type, data)))
        if first:
            await asyncio.sleep(0)  # PERF: as FrameSink.chunk: the first event leaves now

    async def _emit(self, events: list[StreamEvent]) -> None:
        for event in events:
            await self.event(event.type, _JSON.encode(event))

    async def chunk(self, chunk: msgspec.Struct | msgspec.Raw) -> None:
        """A chat chunk -> its Responses events."""
        assert self._events is not None, "convert() first"
        if isinstance(chunk, msgspec.Raw):
            parsed = _CHUNK.decode(chunk)
        elif isinstance(chunk, ChatCompletionChunk):
            parsed = chunk
        else:  # pragma: no cover - the chat path sends only these
            raise TypeError(type(chunk).__name__)
        await self._emit(self._events.feed(parsed))

    async def done(self, usage: Usage | None) -> None:
        """The chat stream ended: close the items, store, `response.completed`, end."""
        if self._events is None:  # pass-through: the upstream's events already went out
            await super().done(usage)
            return
        events, response = self._events.close(usage)
        await self._on_final(response)
        await self._emit(events)
        await super().done(usage)

    async def result(self, body: msgspec.Struct | msgspec.Raw, usage: Usage | None = None) -> None:
        """A whole chat completion -> the response object (stored first)."""
        if self._shell is None or self._new_id is None:
            await super().result(body, usage)  # pass-through: already a response object
            return
        completion = _COMPLETION.decode(body) if isinstance(body, msgspec.Raw) else body
        assert isinstance(completion, ChatCompletion)
        response = from_completion(completion, self._shell, self._new_id, self._namespaces, usage or Usage())
        await self._on_final(response)
        await super().result(response, usage)

    async def error(self, ex: APIError) -> None:
        """Before output: the HTTP error. After: `error` + `response.failed`, then the end."""
        if not self.started:
            await super().error(ex)
            return
        if self._events is not None:
            await self._emit(self._events.fail(ex.error))
        else:  # pass-through: the upstream's own events went out; add ours
            await self.event("error", _JSON.encode({
                "type": "error", "sequence_number": self.sequence, "code": ex.error.code or ex.error.type,
                "message": ex.error.message, "param": ex.error.param,
            }))
        await super().done(None)
