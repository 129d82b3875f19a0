"""FrameSink: a result larger than one bus message leaves in parts, in order."""

from __future__ import annotations

import asyncio

import msgspec

from gateway.contracts.bus import FRAME_DECODER, Result, ResultPart
from gateway.contracts.openai import Usage
from workers.frames import FrameSink


class Recorder:
    """A publisher with a small message limit that records what it sends."""

    max_payload = 8192

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def publish(self, subject: str, payload: bytes = b"", reply: str = "",
                      headers: dict[str, str] | None = None) -> None:
        assert len(payload) <= self.max_payload
        self.sent.append(payload)


def test_a_large_result_is_split_into_parts_then_the_result() -> None:
    nc = Recorder()
    body = msgspec.Raw(b'"' + b"x" * 20_000 + b'"')
    asyncio.run(FrameSink(nc, "inbox.1").result(body, Usage(prompt_tokens=3, total_tokens=3)))
    frames = [FRAME_DECODER.decode(p) for p in nc.sent]
    assert [type(f) for f in frames] == [ResultPart, ResultPart, ResultPart, ResultPart, Result]
    assert b"".join(f.data for f in frames) == bytes(body)
    assert isinstance(frames[-1], Result) and frames[-1].usage == Usage(prompt_tokens=3, total_tokens=3)


def test_a_small_result_is_one_frame() -> None:
    nc = Recorder()
    asyncio.run(FrameSink(nc, "inbox.1").result(msgspec.Raw(b"{}")))
    assert [type(FRAME_DECODER.decode(p)) for p in nc.sent] == [Result]


def test_dropped_params_ride_the_first_chunk_and_the_result_only() -> None:
    # Issue 20: the gateway writes `x-gateway-dropped-params` from the first output frame.
    nc = Recorder()

    async def stream() -> None:
        sink = FrameSink(nc, "inbox.1")
        sink.dropped = ["temperature", "top_p"]
        await sink.chunk(msgspec.Raw(b'{"n":1}'))
        await sink.chunk(msgspec.Raw(b'{"n":2}'))
        await sink.done(None)

    asyncio.run(stream())
    frames = [FRAME_DECODER.decode(p) for p in nc.sent]
    assert [getattr(f, "dropped_params", None) for f in frames] == [["temperature", "top_p"], None, None]
    assert b"dropped_params" not in nc.sent[1]  # later chunks carry nothing more
    whole = Recorder()
    sink = FrameSink(whole, "inbox.2")
    sink.dropped = ["temperature"]
    asyncio.run(sink.result(msgspec.Raw(b"{}")))
    result = FRAME_DECODER.decode(whole.sent[0])
    assert isinstance(result, Result) and result.dropped_params == ["temperature"]
