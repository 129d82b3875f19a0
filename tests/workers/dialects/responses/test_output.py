"""ResponsesOutput on a FrameSink: chat output leaves as framed Responses events or the response object."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import msgspec

from gateway.contracts.bus import FRAME_DECODER, Chunk, Done, Error, Result
from gateway.contracts.errors import APIError, OpenAIError, invalid_request
from gateway.contracts.openai import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Delta,
    ResponseMessage,
    Usage,
)
from gateway.contracts.openai_responses import RESPONSES_REQUEST_DECODER, Response
from tests.workers.test_frames import Recorder
from workers.dialects.responses.output import ResponsesOutput
from workers.dialects.responses.response import response_shell
from workers.frames import FrameSink

USAGE = Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5)


def converting(stored: list[str], nc: Recorder, stream: bool = True) -> FrameSink:
    req = RESPONSES_REQUEST_DECODER.decode(b'{"model": "m", "input": "x"}')
    counter = itertools.count(1)

    async def on_final(response_id: str, data: bytes) -> None:
        response = msgspec.json.decode(data, type=Response)
        stored.append(f"{response_id}:{response.status}:{len(nc.sent)}")

    output = ResponsesOutput(response_shell(req, "resp_1", 1, "m"), lambda p: f"{p}_{next(counter)}", {}, on_final,
                             stream=stream)
    return FrameSink(nc, "inbox.1", output=output)


def frames(nc: Recorder) -> list[Any]:
    return [FRAME_DECODER.decode(p) for p in nc.sent]


def events(nc: Recorder) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for frame in frames(nc):
        if isinstance(frame, Chunk):
            head, data, blank = frame.data.decode().split("\n", 2)
            assert head.startswith("event: ") and data.startswith("data: ") and blank == "\n"
            out.append((head[7:], json.loads(data[6:])))
    return out


def chunk(text: str) -> ChatCompletionChunk:
    return ChatCompletionChunk(id="c", created=1, model="m", choices=[ChunkChoice(index=0, delta=Delta(content=text))])


def test_chunks_become_framed_events_and_the_response_is_stored_before_completed() -> None:
    nc, stored = Recorder(), []
    sink = converting(stored, nc)

    async def run() -> None:
        await sink.chunk(chunk("Hi"))
        await sink.chunk(msgspec.Raw(msgspec.json.encode(chunk(" there"))))  # an upstream's chunk as is
        await sink.done(USAGE)

    asyncio.run(run())
    got = events(nc)
    assert [t for t, _ in got][-1] == "response.completed" and all(t == e["type"] for t, e in got)
    assert got[-1][1]["response"]["output"][0]["content"][0]["text"] == "Hi there"
    assert isinstance(frames(nc)[-1], Done)
    # stored once, completed, before the completed event was sent
    assert len(stored) == 1 and stored[0].startswith("resp_1:completed:")
    assert int(stored[0].rsplit(":", 1)[1]) < len(nc.sent) - 1


def test_a_whole_completion_becomes_the_response_object() -> None:
    nc, stored = Recorder(), []
    completion = ChatCompletion(id="c", created=1, model="m", choices=[
        Choice(index=0, message=ResponseMessage(content="Whole."), finish_reason="stop")])
    asyncio.run(converting(stored, nc).result(completion, USAGE))
    (result,) = frames(nc)
    assert isinstance(result, Result) and result.usage == USAGE
    body = json.loads(result.data)
    assert body["object"] == "response" and body["output"][0]["content"][0]["text"] == "Whole."
    assert body["usage"]["input_tokens"] == 3 and stored == ["resp_1:completed:0"]


def test_an_error_before_output_is_a_status_and_after_it_error_and_response_failed() -> None:
    broke = APIError(502, OpenAIError("broke", "upstream_error", None, "upstream_error"))
    nc, stored = Recorder(), []
    asyncio.run(converting(stored, nc).error(broke))
    assert [type(f) for f in frames(nc)] == [Error]

    nc = Recorder()
    sink = converting(stored, nc)

    async def run() -> None:
        await sink.chunk(chunk("partial"))
        await sink.error(broke)

    asyncio.run(run())
    assert [t for t, _ in events(nc)][-2:] == ["error", "response.failed"]
    assert isinstance(frames(nc)[-1], Done) and stored == []


# What the provider packages make of an upstream's context overflow (OpenAI's own code).
OVERFLOW = invalid_request("This model's maximum context length is 128000 tokens. However, your messages "
                           "resulted in 130512 tokens.", "messages", "context_length_exceeded")


def test_a_context_overflow_reaches_a_streaming_caller_as_response_failed_with_openais_code() -> None:
    # Finding 8: Codex starts compaction only on `response.failed` whose error code is
    # `context_length_exceeded` (codex-rs/codex-api/src/sse/responses.rs); an HTTP 400 is InvalidRequest.
    nc, stored = Recorder(), []
    asyncio.run(converting(stored, nc).error(OVERFLOW))
    got = events(nc)
    assert [t for t, _ in got] == ["response.created", "response.in_progress", "error", "response.failed"]
    assert got[2][1]["code"] == "context_length_exceeded" and "maximum context length" in got[2][1]["message"]
    failed = got[3][1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "context_length_exceeded"
    assert [e["sequence_number"] for _, e in got] == [0, 1, 2, 3]
    assert isinstance(frames(nc)[-1], Done) and stored == []


def test_a_context_overflow_without_stream_is_a_400_with_openais_code() -> None:
    nc, stored = Recorder(), []
    asyncio.run(converting(stored, nc, stream=False).error(OVERFLOW))
    (frame,) = frames(nc)
    assert isinstance(frame, Error) and frame.status == 400
    assert frame.error.code == "context_length_exceeded" and frame.error.type == "invalid_request_error"
