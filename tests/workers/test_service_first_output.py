"""A job's first output feeds `latency` routing (workers/load.py) once, whatever its dialect:
a Messages request converted to chat for an openai-kind upstream included (issue 19)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable

import httpx
import pytest

from gateway.contracts.bus import Chunk, Done, Job, Result
from gateway.contracts.config import parse
from gateway.contracts.log import Logger
from workers.load import LoadTracker
from workers.providers import load
from workers.service import JobService, Route
from workers.upstream import Upstream
from tests.workers.test_service import Frames

CONFIG = parse("""
[providers.oai]
kind = "openai"
base_url = "http://upstream.invalid/v1"
api_key_env = "FIRST_OUTPUT_TEST_KEY"
[[models]]
id = "gpt"
provider = "oai"
""")
MESSAGES = {"model": "gpt", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
COMPLETION = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "yo"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def sse(*chunks: dict[str, object]) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


STREAM = sse(
    {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt",
     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "yo"}, "finish_reason": None}]},
    {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt",
     "choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": "stop"}]},
    {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt", "choices": [],
     "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
)


class CountingLoad(LoadTracker):
    """A LoadTracker that counts the first-output callbacks it handed out being called."""

    def __init__(self) -> None:
        super().__init__()
        self.first_outputs = 0

    def begin(self, job: Job) -> Callable[[], None]:
        sample = super().begin(job)

        def first_output() -> None:
            self.first_outputs += 1
            sample()

        return first_output


def run(stream: bool, answer: httpx.Response) -> tuple[Frames, CountingLoad]:
    frames, tracker = Frames(), CountingLoad()
    config = CONFIG.providers["oai"]
    route = Route("oai", load("openai"), Upstream("oai", config, transport=httpx.MockTransport(lambda r: answer)),
                  config)
    job = Job(request_id="req_f1", key_id="k1", op="chat", model="gpt", provider="oai", upstream_model="gpt",
              body=json.dumps({**MESSAGES, "stream": stream}).encode(), deadline=time.time() + 10,
              dialect="messages", stream=stream)

    async def main() -> None:
        service = JobService(frames, {"oai": route}, lambda event: None, Logger("worker", stream=io.StringIO()),
                             load=tracker)
        await service.run(job, "inbox.1")
        await route.upstream.aclose()

    asyncio.run(main())
    return frames, tracker


@pytest.fixture(autouse=True)
def provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRST_OUTPUT_TEST_KEY", "sk-first-output-test")


def test_a_converted_messages_stream_feeds_latency_once() -> None:
    frames, tracker = run(True, httpx.Response(200, content=STREAM, headers={"content-type": "text/event-stream"}))
    assert [type(f) for f in frames.frames].count(Chunk) > 1 and isinstance(frames.frames[-1], Done)
    assert tracker.first_outputs == 1
    [report] = tracker.reports()
    assert report.deployments[0].latency_ms is not None


def test_a_converted_whole_messages_answer_feeds_latency_once() -> None:
    frames, tracker = run(False, httpx.Response(200, json=COMPLETION))
    [result] = frames.frames
    assert isinstance(result, Result) and json.loads(result.data)["type"] == "message"
    assert tracker.first_outputs == 1
