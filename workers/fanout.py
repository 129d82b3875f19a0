"""n > 1 fan-out for providers without `n`, and the split of long embeddings inputs:
several upstream calls run concurrently, their answers merged into one.

A chat job asking n choices of a provider without `n` makes n calls of one choice each
(workers/pump.py reads each); their completions merge into one with choices 0..n-1,
their streams interleave as they come, each chunk keeping its choice's index.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import TypeVar

import msgspec

from gateway.contracts.bus import Job
from gateway.contracts.errors import internal_error
from gateway.contracts.openai import ChatCompletion, ChatCompletionChunk, Embedding, EmbeddingResponse, EmbeddingUsage, Usage
from workers import pump
from workers.frames import FrameSink
from workers.job import Outcome, Route, reply_context
from workers.providers.base import ChatResult, EmbedResult, ReplyContext, UpstreamError, UpstreamRequest

T = TypeVar("T")


async def chat_whole(route: Route, request: UpstreamRequest, contexts: list[ReplyContext], sink: FrameSink,
                     outcome: Outcome) -> None:
    """One call per context (one unless fanned out), merged into one completion."""

    async def one(ctx: ReplyContext) -> ChatResult:
        body = await pump.whole(route, request, outcome)
        try:
            result = route.provider.chat_result(body, ctx)
        except UpstreamError as ex:
            if ex.usage is not None:  # a failed answer the upstream still billed
                outcome.usage = outcome.usage.plus(ex.usage)
            raise
        outcome.usage = outcome.usage.plus(result.usage)
        outcome.estimated = outcome.estimated or result.estimated
        return result

    results = await all_or_first_error([one(ctx) for ctx in contexts])
    if len(results) == 1:
        await sink.result(results[0].body, outcome.usage)
    else:
        await sink.result(merge_completions(results, outcome.usage), outcome.usage)


async def chat_stream(job: Job, route: Route, request: UpstreamRequest, calls: int, created: int,
                      sink: FrameSink, outcome: Outcome) -> None:
    """`calls` streams (one unless fanned out) into one, then the usage chunk and `done`."""
    usages = [Usage() for _ in range(calls)]
    # The usage chunk carries the id of the stream's other chunks (a pass-through
    # upstream names its own), so every chunk of one response has the same id.
    stream_id = f"chatcmpl-{job.request_id}"
    first = True

    async def send(chunk: ChatCompletionChunk | msgspec.Raw) -> None:
        nonlocal stream_id, first
        if first:
            stream_id, first = _chunk_id(chunk) or stream_id, False
        await sink.chunk(chunk)

    def ended(index: int) -> pump.ChoiceEnd:
        def end(usage: Usage, chars: int) -> None:
            usages[index] = usage
            if usage.completion_tokens == 0:
                outcome.unreported_chars += chars
            outcome.usage = sum_usage(usages)
        return end

    await all_or_first_error([
        pump.chat_choice(route, request, route.provider.chat_stream(reply_context(job, created, i), job.include_usage),
                         outcome, send, ended(i))
        for i in range(calls)
    ])
    if job.include_usage:
        await sink.chunk(ChatCompletionChunk(id=stream_id, created=created, model=job.model, choices=[],
                                             usage=outcome.usage))
    await sink.done(outcome.usage)


class _ChunkId(msgspec.Struct):
    id: str = ""


_CHUNK_ID = msgspec.json.Decoder(_ChunkId)


def _chunk_id(chunk: ChatCompletionChunk | msgspec.Raw) -> str:
    """The id of one chunk ("" if a raw one has none)."""
    return _CHUNK_ID.decode(chunk).id if isinstance(chunk, msgspec.Raw) else chunk.id


def sum_usage(usages: list[Usage]) -> Usage:
    """The usages added up."""
    total = Usage()
    for usage in usages:
        total = total.plus(usage)
    return total


def merge_completions(results: list[ChatResult], usage: Usage) -> ChatCompletion:
    """n single-choice completions (fan-out) -> one completion with choices 0..n-1."""
    first = results[0].body
    if not isinstance(first, ChatCompletion):
        raise internal_error("a provider without `n` returned a raw body")
    choices = []
    for result in results:
        body = result.body
        assert isinstance(body, ChatCompletion)
        choices.extend(body.choices)
    choices.sort(key=lambda c: c.index)
    return ChatCompletion(
        id=first.id, created=first.created, model=first.model, choices=choices, usage=usage
    )


def merge_embeddings(results: list[EmbedResult]) -> EmbedResult:
    """Split embeddings calls -> one response, indices running on across the parts."""
    data: list[Embedding] = []
    usage = Usage()
    first: EmbeddingResponse | None = None
    for result in results:
        body = result.body
        if not isinstance(body, EmbeddingResponse):
            raise internal_error("a provider that splits embeddings returned a raw body")
        first = first or body
        offset = len(data)
        data.extend(Embedding(index=offset + i, embedding=e.embedding) for i, e in enumerate(body.data))
        usage = usage.plus(result.usage)
    assert first is not None
    merged = EmbeddingResponse(
        data=data, model=first.model, usage=EmbeddingUsage(usage.prompt_tokens, usage.total_tokens)
    )
    return EmbedResult(body=merged, usage=usage, estimated=any(r.estimated for r in results))


async def all_or_first_error(coros: Sequence[Awaitable[T]]) -> list[T]:
    """Run concurrently; on the first failure cancel the rest and raise it."""
    if len(coros) == 1:
        return [await coros[0]]
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
