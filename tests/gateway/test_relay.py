"""The relay reassembles a result that came in parts."""

from __future__ import annotations

import io
import time

from gateway.contracts.bus import FRAME_ENCODER, Heartbeat, Job, Result, ResultPart
from gateway.contracts.config import GatewaySettings
from gateway.contracts.log import Logger
from gateway.contracts.openai import Usage
from gateway.relay import Relay


class ScriptedReply:
    """Hands out pre-encoded frames like a bridge Reply."""

    def __init__(self, *frames: object) -> None:
        self._items = [FRAME_ENCODER.encode(f) for f in frames]

    def get(self, timeout: float) -> bytes:
        return self._items.pop(0)

    def close(self) -> None:
        pass


def test_result_parts_are_joined_before_the_response() -> None:
    relay = Relay(None, GatewaySettings(), Logger("t", io.StringIO()))  # type: ignore[arg-type]
    job = Job(request_id="r", key_id="k", op="chat", model="m", provider="p", upstream_model="u",
              body=b"{}", deadline=time.time() + 60)
    reply = ScriptedReply(ResultPart(b'{"a":'), Heartbeat(), ResultPart(b'"bc'), Result(b'd"}', Usage(total_tokens=5)))
    result = relay._first_output(reply, job, None)  # type: ignore[arg-type]
    assert isinstance(result, Result)
    assert result.data == b'{"a":"bcd"}' and result.usage == Usage(total_tokens=5)


def test_a_job_larger_than_a_bus_message_is_a_clear_413() -> None:
    import falcon
    import pytest

    from gateway.contracts.errors import APIError

    class SmallBus:
        ready = True
        max_payload = 1024

        def request(self, subject: str, payload: bytes) -> None:
            raise AssertionError("must not be published")

    relay = Relay(SmallBus(), GatewaySettings(), Logger("t", io.StringIO()))  # type: ignore[arg-type]
    job = Job(request_id="r", key_id="k", op="chat", model="m", provider="p", upstream_model="u",
              body=b"x" * 4096, deadline=time.time() + 60)
    with pytest.raises(APIError) as ex:
        relay.respond(falcon.Response(), job, "llm.chat.p")
    assert ex.value.status == 413 and ex.value.error.code == "request_too_large"
    assert "max_payload" in ex.value.error.message


def _stream_of(dialect: str, *frames: object) -> list[bytes]:
    from gateway.contracts.bus import Chunk

    relay = Relay(None, GatewaySettings(), Logger("t", io.StringIO()))  # type: ignore[arg-type]
    job = Job(request_id="r", key_id="k", op="chat", model="m", provider="p", upstream_model="u",
              body=b"{}", deadline=time.time() + 60, dialect=dialect)
    first, *rest = frames
    assert isinstance(first, Chunk)
    ended: list[Usage | None] = []
    return list(relay._stream(ScriptedReply(*rest), job, first, ended.append))  # type: ignore[arg-type]


def test_a_responses_stream_is_written_as_the_worker_framed_it_without_done() -> None:
    from gateway.contracts.bus import Chunk, Done

    event = b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n'
    out = _stream_of("responses", Chunk(event), Heartbeat(), Chunk(event), Done(Usage()))
    assert out == [event, b": keep-alive\n\n", event]
    chat = _stream_of("chat", Chunk(b'{"id":"c"}'), Done(Usage()))
    assert chat == [b'data: {"id":"c"}\n\n', b"data: [DONE]\n\n"]


def test_an_error_frame_mid_responses_stream_is_a_responses_error_event() -> None:
    import json

    from gateway.contracts.bus import Chunk, Error
    from gateway.contracts.errors import OpenAIError

    out = _stream_of("responses", Chunk(b"event: x\ndata: {}\n\n"),
                     Error(502, OpenAIError("upstream broke", "upstream_error", None, "upstream_error")))
    head, data = out[-1].decode().strip().split("\n")
    assert head == "event: error"
    assert json.loads(data.removeprefix("data: ")) == {
        "type": "error", "code": "upstream_error", "message": "upstream broke", "param": None, "sequence_number": 0}
    assert not any(b"[DONE]" in part for part in out)
