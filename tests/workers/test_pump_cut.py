"""Issue 21: a pass-through stream cut by a cancel (the client gone, or
a gateway or worker shutdown: the service cancels the job either way) leaves what it
relayed counted for the estimate, for each dialect's reader."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.runtime.estimate import tokens_from_chars
from workers import pump
from workers.dialects import Direct
from workers.dialects.messages.passthrough import MessagesPassThrough
from workers.dialects.responses.passthrough import ResponsesRelay
from workers.job import Outcome
from workers.providers.base import UpstreamRequest
from workers.upstream import OpenResponse

TEXT = "x" * 400


def sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


MESSAGES = [sse("message_start", {"message": {"id": "m", "usage": {"input_tokens": 50, "output_tokens": 1}}}),
            sse("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
            sse("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": TEXT}})]
RESPONSES = [sse("response.created", {"sequence_number": 0, "response": {"id": "resp_1", "model": "u"}}),
             sse("response.output_text.delta", {"sequence_number": 1, "item_id": "msg_1", "output_index": 0,
                                                "content_index": 0, "delta": TEXT})]


def route(events: list[bytes], sent: asyncio.Event) -> Any:
    async def chunks() -> AsyncIterator[bytes]:
        for event in events:
            yield event
        sent.set()
        await asyncio.Event().wait()  # the upstream is still generating when the job is cut

    @asynccontextmanager
    async def open_(request: UpstreamRequest) -> AsyncIterator[OpenResponse]:
        yield OpenResponse(200, {}, chunks())

    return SimpleNamespace(upstream=SimpleNamespace(open=open_))


@pytest.mark.parametrize(("reader", "events"), [(MessagesPassThrough("m"), MESSAGES),
                                                (ResponsesRelay("m", None, None), RESPONSES)],
                         ids=["messages", "responses"])
def test_a_cancelled_pass_through_stream_bills_what_it_relayed_as_an_estimate(reader: Any, events: list[bytes]) -> None:
    async def main() -> Outcome:
        sent, outcome = asyncio.Event(), Outcome(status="cut")
        relayed: list[object] = []

        async def chunk(item: object) -> None:
            relayed.append(item)

        sink = SimpleNamespace(chunk=chunk)
        direct = Direct(UpstreamRequest(url="http://upstream/", headers={}, body=b"{}", stream=True), reader, 7)
        task = asyncio.create_task(pump.pass_through(route(events, sent), direct, sink, outcome))  # type: ignore[arg-type]
        await sent.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(relayed) == len(events)
        return outcome

    outcome = asyncio.run(main())
    usage, estimated = outcome.billable_usage()
    assert estimated and usage.completion_tokens == tokens_from_chars(len(TEXT))
