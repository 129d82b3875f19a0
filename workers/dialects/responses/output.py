"""ResponsesOutput: chat output leaves in the Responses dialect (workers/frames.py `Output`).

The job's pump writes chat chunks, a chat result, `done` and errors to its sink; this
Output turns them into Responses events (stream.py) or the response object
(response.py). Each event leaves as one chunk frame already framed as SSE
(`event: <type>` + `data:`), which the gateway writes as is (gateway/sse_framing.py).

Nothing is sent before the upstream's first output, so a refusal before it (a 400, an
upstream 429) is still a plain HTTP error. An error after output becomes `error` +
`response.failed` events and ends the stream. So does a context overflow (code
`context_length_exceeded`, what the provider packages make of each upstream's) on a
stream even before output: OpenAI reports it in-stream, and Codex compacts its history
only on a `response.failed` with that code (an HTTP 400 is an invalid request to it). The finished response is stored
(`settle`) before the caller sees it complete: a `previous_response_id` sent right
after `response.completed` finds it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import msgspec

from gateway.contracts.errors import OpenAIError
from gateway.contracts.openai import ChatCompletion, ChatCompletionChunk, Usage
from gateway.contracts.openai_responses import Response, StreamEvent
from workers.dialects.responses.params import Places
from workers.dialects.responses.response import NewId, from_completion
from workers.dialects.responses.stream import EventStream
from workers.frames import Item

Store = Callable[[str, bytes], Awaitable[None]]  # (response id, response JSON) -> stored
CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"  # OpenAI's code for an input over the context window
_JSON = msgspec.json.Encoder()
_CHUNK = msgspec.json.Decoder(ChatCompletionChunk)
_COMPLETION = msgspec.json.Decoder(ChatCompletion)


def framed(event_type: str, data: bytes) -> msgspec.Raw:
    """One SSE event as the Responses API writes it (a chunk frame's bytes as they are)."""
    return msgspec.Raw(b"event: " + event_type.encode() + b"\ndata: " + data + b"\n\n")


def _framed_all(events: list[StreamEvent]) -> list[Item]:
    return [framed(event.type, _JSON.encode(event)) for event in events]


class ResponsesOutput:
    """One job's chat output as the response `shell` filled in (see the module doc)."""

    def __init__(self, shell: Response, new_id: NewId, namespaces: dict[str, str], store: Store | None,
                 stream: bool, places: Places | None = None) -> None:
        self._shell, self._new_id, self._namespaces, self._store = shell, new_id, namespaces, store
        self._stream, self._places = stream, places
        self._events = EventStream(shell, new_id, namespaces)
        self._finished: Response | None = None  # to store before it leaves

    def chunk(self, item: Item) -> Sequence[Item]:
        """A chat chunk -> its Responses events."""
        if isinstance(item, msgspec.Raw):
            parsed = _CHUNK.decode(item)
        elif isinstance(item, ChatCompletionChunk):
            parsed = item
        else:  # pragma: no cover - the chat path sends only these
            raise TypeError(type(item).__name__)
        return _framed_all(self._events.feed(parsed))

    def done(self, usage: Usage) -> Sequence[Item]:
        """The chat stream ended: close the items, then `response.completed`."""
        events, self._finished = self._events.close(usage)
        return _framed_all(events)

    def result(self, body: Item, usage: Usage) -> Item:
        """A whole chat completion -> the response object."""
        completion = _COMPLETION.decode(body) if isinstance(body, msgspec.Raw) else body
        assert isinstance(completion, ChatCompletion)
        self._finished = from_completion(completion, self._shell, self._new_id, self._namespaces, usage)
        return self._finished

    def failed(self, error: OpenAIError) -> Sequence[Item] | None:
        """After output (or a stream's context overflow): `error` + `response.failed`;
        None (an HTTP error) otherwise. Either way `error` names the caller's own fields
        first (a provider or upstream refusal names chat's: params.py)."""
        if self._places is not None:
            self._places.rename(error)
        if not self._events.started and not (self._stream and error.code == CONTEXT_LENGTH_EXCEEDED):
            return None
        return _framed_all(self._events.fail(error))

    async def settle(self) -> None:
        """Store the finished response (once) before the caller sees it complete."""
        response, self._finished = self._finished, None
        if response is not None and self._store is not None:
            await self._store(response.id, _JSON.encode(response))
