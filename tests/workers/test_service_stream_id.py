"""JobService around a provider: the ids of the chunks one stream sends."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

from gateway.contracts.bus import FRAME_DECODER, Chunk, Done, Job
from gateway.contracts.config import parse
from gateway.contracts.log import Logger
from workers.providers.echo import PROVIDER as ECHO
from workers.job import Route
from workers.service import JobService
from workers.upstream import Upstream

CONFIG = parse('[providers.echo]\nkind = "echo"\n[[models]]\nid = "echo"\nprovider = "echo"\n')


class Recorder:
    """Collects what the service publishes."""

    max_payload = 1 << 20

    def __init__(self) -> None:
        self.frames: list[Any] = []

    async def publish(self, subject: str, payload: bytes = b"", reply: str = "", headers: dict[str, str] | None = None) -> None:
        self.frames.append(FRAME_DECODER.decode(payload))


def run_stream(request_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    recorder = Recorder()

    async def main() -> None:
        route = Route("echo", ECHO, Upstream("echo", CONFIG.providers["echo"], local=ECHO.local_upstream), CONFIG.providers["echo"])
        service = JobService(recorder, {"echo": route}, lambda event: None, Logger("test", io.StringIO()))
        job = Job(request_id=request_id, key_id="k", op="chat", model="echo", provider="echo", upstream_model="echo",
                  body=json.dumps(body).encode(), stream=True, include_usage=True, deadline=time.time() + 10)
        await service.run(job, "inbox")

    asyncio.run(main())
    assert isinstance(recorder.frames[-1], Done)
    return [json.loads(f.data) for f in recorder.frames if isinstance(f, Chunk)]


def test_the_usage_chunk_carries_the_id_of_the_streams_other_chunks() -> None:
    body = {"model": "echo", "messages": [{"role": "user", "content": "a b"}], "stream": True,
            "stream_options": {"include_usage": True}}
    chunks = run_stream("req_1", body)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 2
    assert len(chunks) == 5 and len({c["id"] for c in chunks}) == 1
    assert chunks[0]["id"].startswith("chatcmpl-echo")  # the upstream's id, not one of ours
    assert run_stream("req_2", body)[0]["id"] != chunks[0]["id"]
