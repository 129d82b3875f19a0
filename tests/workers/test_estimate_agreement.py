"""The worker and the gateway count one stream's output alike (gateway/runtime/estimate.py):
the worker counts the chat chunks it converts, the gateway the dialect's events it relays."""

from __future__ import annotations

import json

import msgspec

from gateway.contracts.openai import ChatCompletionChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta, Usage
from gateway.contracts.openai_responses import RESPONSES_REQUEST_DECODER
from gateway.runtime.estimate import chunk_chars
from gateway.sse_framing import ChatFraming, Framing, MessagesFraming, ResponsesFraming

FRAMINGS: dict[str, Framing] = {"chat": ChatFraming(), "messages": MessagesFraming(), "responses": ResponsesFraming()}
from workers.dialects.messages.stream import MessagesOutput
from workers.dialects.responses.output import ResponsesOutput
from workers.dialects.responses.response import response_shell


def chunk(delta: Delta, finish: str | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk(id="c", created=1, model="m", choices=[ChunkChoice(index=0, delta=delta,
                                                                                    finish_reason=finish)])


CALL = ToolCallDelta(index=0, id="call_1", type="function", function=FunctionCallDelta("get_weather", '{"city":'))
STREAM = [
    chunk(Delta(reasoning_content="Let me think.")),
    chunk(Delta(content="Checking")),
    chunk(Delta(content=" the weather.")),
    chunk(Delta(tool_calls=[CALL])),
    chunk(Delta(tool_calls=[ToolCallDelta(index=0, function=FunctionCallDelta(arguments='"Paris"}'))]), "tool_calls"),
]
WORKER_COUNT = sum(chunk_chars(c) for c in STREAM)


def relayed(dialect: str, events: list[bytes]) -> int:
    framing = FRAMINGS[dialect]
    return sum(framing.output_chars(e) for e in events)


def test_a_messages_stream_counts_the_same_in_both_processes() -> None:
    output = MessagesOutput("msg_1", "m")
    events = [e for c in STREAM for e in output.chunk(c)] + list(output.done(Usage()))
    assert relayed("messages", [msgspec.json.encode(e) for e in events]) == WORKER_COUNT


def test_a_responses_stream_counts_the_same_in_both_processes() -> None:
    req = RESPONSES_REQUEST_DECODER.decode(b'{"model": "m", "input": "x"}')
    output = ResponsesOutput(response_shell(req, "resp_1", 1, "m"), lambda p: f"{p}_1", {}, None, True)
    events = [e for c in STREAM for e in output.chunk(c)] + list(output.done(Usage()))
    frames = [bytes(e) for e in events if isinstance(e, msgspec.Raw)]
    assert len(frames) == len(events) and json.loads(frames[-1].split(b"data: ", 1)[1])["type"] == "response.completed"
    assert relayed("responses", frames) == WORKER_COUNT
