"""The one pump: an upstream call read to its end and fed, through a converter or a
pass-through reader, into the job's sink.

Every answer takes one of two roads: `whole` reads a body (chat and embeddings
answers, a whole pass-through), `events` feeds a stream's SSE events one by one (chat
streams through the provider's converter, pass-throughs through the dialect's reader).
An error status is the upstream's refusal: it did no billable work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import msgspec

from gateway.contracts.openai import ChatCompletionChunk, Usage
from gateway.runtime.estimate import chunk_chars
from workers.dialects import Direct
from workers.frames import FrameSink
from workers.job import Outcome, Route
from workers.providers.base import ChunkConverter, SseEvent, UpstreamError, UpstreamRequest
from workers.sse import SseDecoder

Send = Callable[[ChatCompletionChunk | msgspec.Raw], Awaitable[None]]
T = TypeVar("T")
ChoiceEnd = Callable[[Usage, int], None]  # (the choice's usage, its output characters)


def refused(outcome: Outcome, error: UpstreamError, status: int) -> UpstreamError:
    """The upstream answered with an error status: it did no billable work."""
    outcome.upstream_working = False
    outcome.upstream_status = str(status)
    return error


async def whole(route: Route, request: UpstreamRequest, outcome: Outcome) -> bytes:
    """The upstream's whole answer (a 2xx body); an error status raises the provider's error."""
    outcome.upstream_working = True
    async with route.upstream.open(request) as response:
        body = await response.read()
        if response.status >= 400:
            raise refused(outcome, route.provider.error(response.status, response.headers, body), response.status)
    return body


async def events(route: Route, request: UpstreamRequest, outcome: Outcome,
                 convert: Callable[[SseEvent], Iterable[T]], send: Callable[[T], Awaitable[None]]) -> None:
    """Every SSE event of the upstream's stream through `convert`, each item it makes to
    `send`, in order (PERF: a plain call per event; the only await is the send)."""
    outcome.upstream_working = True
    async with route.upstream.open(request) as response:
        if response.status >= 400:
            body = await response.read()
            raise refused(outcome, route.provider.error(response.status, response.headers, body), response.status)
        decoder = SseDecoder()
        async for raw in response.chunks:
            for event in decoder.feed(raw):
                for item in convert(event):
                    await send(item)
        for event in decoder.close():
            for item in convert(event):
                await send(item)


async def chat_choice(route: Route, request: UpstreamRequest, converter: ChunkConverter, outcome: Outcome,
                      send: Send, end: ChoiceEnd) -> None:
    """One choice's chat stream through its converter to `send`; `end` gets its usage and
    output characters however it ended (a broken or cancelled stream is billed for what
    was reported so far: a converter reports 0 output until the upstream's count came)."""
    final: Usage | None = None
    chars = 0  # this choice's output so far, for an estimate if no count comes

    def convert(event: SseEvent) -> list[ChatCompletionChunk | msgspec.Raw]:
        nonlocal chars
        chunks = converter.feed(event)
        for chunk in chunks:
            chars += chunk_chars(chunk)
        return chunks

    try:
        await events(route, request, outcome, convert, send)
        finished = converter.close()
        final = finished.usage
        outcome.estimated = outcome.estimated or finished.estimated
    finally:
        end(final if final is not None else converter.usage(), chars)


async def pass_through(route: Route, direct: Direct, sink: FrameSink, outcome: Outcome) -> None:
    """A request in the upstream's own dialect: relayed by its reader, billed from its usage."""
    request, reader = direct.request, direct.reader
    outcome.prompt_estimate = direct.prompt_estimate
    if not request.stream:
        data, outcome.usage = reader.result(await whole(route, request, outcome))
        await sink.result(data, outcome.usage)
        return

    try:
        await events(route, request, outcome, reader.feed, sink.chunk)
        reader.close()
    finally:
        outcome.usage, outcome.unreported_chars = reader.usage(), reader.unreported_chars()
    failure = reader.failure()
    if failure is not None:  # relayed as the upstream's final event: the job failed
        outcome.status, outcome.error_code = "error", failure
    await sink.done(outcome.usage)
