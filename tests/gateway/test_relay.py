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
        down = False
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


class DownBus:
    """A bridge whose NATS connection is lost right now."""

    ready = True
    down = True
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
