"""The relay reassembles a result that came in parts."""

from __future__ import annotations

import io
import time

from gateway.contracts.bus import FRAME_ENCODER, Heartbeat, Job, Result, ResultPart
from gateway.contracts.config import GatewaySettings
from gateway.contracts.log import Logger
from gateway.contracts.openai import Usage
from gateway.relay import Relay
from gateway.sse_framing import ChatFraming, MessagesFraming, ResponsesFraming


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
        down = False
        draining = False
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
    framing = {"messages": MessagesFraming(), "responses": ResponsesFraming()}.get(dialect, ChatFraming())
    return list(relay._stream(ScriptedReply(*rest), job, first, ended.append, None, framing))  # type: ignore[arg-type]


def test_a_responses_stream_is_written_as_the_worker_framed_it_without_done() -> None:
    from gateway.contracts.bus import Chunk, Done

    event = b'event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n'
    out = _stream_of("responses", Chunk(event), Heartbeat(), Heartbeat(), Chunk(event), Done(Usage()))
    # the first heartbeat follows a chunk (no keep-alive); the second is silence
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


class RecordingBus:
    """Records what the relay publishes (cancels, failure records)."""

    def __init__(self) -> None:
        self.published: list[str] = []

    def publish(self, subject: str, payload: bytes, headers: object = None) -> None:
        self.published.append(subject)


def _stream(reply: ScriptedReply, bus: RecordingBus, client_gone: object = None) -> list[bytes]:
    from gateway.contracts.bus import Chunk

    relay = Relay(bus, GatewaySettings(), Logger("t", io.StringIO()))  # type: ignore[arg-type]
    job = Job(request_id="r", key_id="k", op="chat", model="m", provider="p", upstream_model="u",
              body=b"{}", stream=True, deadline=time.time() + 60)
    return list(relay._stream(reply, job, Chunk(b"{}"), lambda usage: None, client_gone))  # type: ignore[arg-type]


def test_keep_alive_comments_only_when_no_chunk_went_out_since_the_last_heartbeat() -> None:
    from gateway.contracts.bus import Chunk, Done
    from gateway.relay import KEEPALIVE

    bus = RecordingBus()
    out = _stream(ScriptedReply(Heartbeat(), Chunk(b"1"), Heartbeat(), Heartbeat(), Heartbeat(), Chunk(b"2"),
                                Heartbeat(), Done(Usage(total_tokens=3))), bus)
    assert out == [b"data: {}\n\n", b"data: 1\n\n", KEEPALIVE, KEEPALIVE, b"data: 2\n\n", b"data: [DONE]\n\n"]
    assert bus.published == []  # finished: nothing to cancel


def test_a_client_gone_during_silence_ends_the_stream_and_cancels_at_the_next_heartbeat() -> None:
    from gateway.contracts.bus import Chunk, cancel_subject

    bus = RecordingBus()
    probes: list[bool] = []

    def gone() -> bool:
        probes.append(True)
        return len(probes) >= 2  # present at the first heartbeat, gone at the second

    out = _stream(ScriptedReply(Chunk(b"1"), Heartbeat(), Heartbeat(), Chunk(b"never")), bus, gone)
    assert out == [b"data: {}\n\n", b"data: 1\n\n"]
    assert bus.published == [cancel_subject("r")]


class DownBus:
    """A bridge whose NATS connection is lost right now."""

    ready = True
    down = True
    draining = False
    max_payload = 1024 * 1024

    def __init__(self) -> None:
        self.published: list[str] = []

    def request(self, subject: str, payload: bytes) -> None:
        raise AssertionError("must not be published while NATS is down")

    def publish(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.published.append(subject)


def test_a_request_while_the_bus_is_down_is_refused_at_once() -> None:
    import falcon
    import pytest

    from gateway.contracts.errors import APIError

    relay = Relay(DownBus(), GatewaySettings(), Logger("t", io.StringIO()))  # type: ignore[arg-type]
    job = Job(request_id="r", key_id="k", op="chat", model="m", provider="p", upstream_model="u",
              body=b"{}", deadline=time.time() + 60)
    with pytest.raises(APIError) as ex:
        relay.respond(falcon.Response(), job, "llm.chat.p")
    assert ex.value.status == 503 and ex.value.error.code == "bus_unavailable"
    assert ex.value.error.type == "service_unavailable" and ex.value.retry_after == "1"


def test_losing_the_bus_while_waiting_fails_the_request_and_cancels_its_job() -> None:
    import pytest

    from gateway.bus_client import BUS_DOWN
    from gateway.contracts.errors import APIError

    class LostReply:
        def get(self, timeout: float) -> object:
            return BUS_DOWN

        def close(self) -> None:
            pass

    bus = DownBus()
    relay = Relay(bus, GatewaySettings(), Logger("t", io.StringIO()))  # type: ignore[arg-type]
    job = Job(request_id="r", key_id="k", op="chat", model="m", provider="p", upstream_model="u",
              body=b"{}", deadline=time.time() + 60)
    with pytest.raises(APIError) as ex:
        relay._first_output(LostReply(), job, None)  # type: ignore[arg-type]
    assert ex.value.status == 503 and ex.value.error.code == "bus_unavailable"
    assert bus.published == ["llm.cancel.r"]


def test_a_worker_silent_for_heartbeats_ends_the_stream_and_bills_what_was_relayed() -> None:
    import gevent.queue

    from gateway.contracts.bus import USAGE_DECODER, Chunk

    text = b'{"id":"c","choices":[{"index":0,"delta":{"content":"%s"}}]}'

    class DyingReply:
        def __init__(self) -> None:
            self._items = [FRAME_ENCODER.encode(Chunk(text % (b"w" * 40)))]

        def get(self, timeout: float) -> bytes:
            assert timeout <= 1.25  # 2.5 heartbeats of 0.5 s, not the idle timeout
            if not self._items:
                raise gevent.queue.Empty
            return self._items.pop(0)

        def close(self) -> None:
            pass

    class Bus:
        def __init__(self) -> None:
            self.published: list[tuple[str, bytes, dict[str, str] | None]] = []

        def publish(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> None:
            self.published.append((subject, payload, headers))

    bus = Bus()
    ended: list[Usage | None] = []
    relay = Relay(bus, GatewaySettings(idle_timeout_s=30), Logger("t", io.StringIO()),  # type: ignore[arg-type]
                  heartbeat_s=0.5)
    job = Job(request_id="r", key_id="k", op="chat", model="m", provider="p", upstream_model="u",
              body=b"x" * 400, deadline=time.time() + 60, stream=True)
    out = b"".join(relay._stream(DyingReply(), job, Chunk(text % b"hi"), ended.append))  # type: ignore[arg-type]
    assert b'"code":"worker_lost"' in out and out.endswith(b"data: [DONE]\n\n")
    [usage_msg] = [p for p in bus.published if p[0] == "usage.request"]
    event = USAGE_DECODER.decode(usage_msg[1])
    assert usage_msg[2] == {"Nats-Msg-Id": "r:gateway"}
    assert (event.status, event.error_code, event.source, event.estimated) == ("error", "worker_lost", "gateway", True)
    assert event.completion_tokens == 11 and event.prompt_tokens == 100  # 42 chars relayed; 400 body bytes
    assert ended[0] == Usage(prompt_tokens=100, completion_tokens=11, total_tokens=111)  # respond() keeps the first
    assert any(p[0] == "llm.cancel.r" for p in bus.published)
