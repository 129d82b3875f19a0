"""Read deadlines of one connection (gateway/connection.py), on gevent socket pairs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from gevent import socket

from gateway.connection import BodyTimeoutError, Phase, TimedSocket
from gateway.contracts.config import GatewaySettings
from tests.harness.procs import SLACK_S

SETTINGS = GatewaySettings(header_timeout_s=0.3, body_timeout_s=0.3, keepalive_timeout_s=0.3)


@pytest.fixture
def pair() -> Iterator[tuple[Any, Any]]:
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


def _dribble(sock: Any, every: float, count: int) -> gevent.Greenlet:
    def run() -> None:
        for _ in range(count):
            gevent.sleep(every)
            sock.sendall(b"x")
    return gevent.spawn(run)


def test_the_header_deadline_covers_all_reads_not_each(pair: tuple[Any, Any]) -> None:
    server, client = pair
    timed = TimedSocket(server, SETTINGS)
    started = time.monotonic()
    dribbler = _dribble(client, 0.05, 100)  # never a long wait on any one read
    received = b""
    while piece := timed.recv(10):
        received += piece
    elapsed = time.monotonic() - started
    # causal: the reads ended while the dribbler was still sending (a per-read deadline
    # would have read all 100 bytes, for 5 s)
    assert not dribbler.dead and len(received) < 100
    dribbler.kill()
    assert 0.28 <= elapsed < 0.3 + SLACK_S
    assert len(received) >= 2  # bytes arrived until the deadline, then "end of file"


def test_a_body_slower_than_its_deadline_raises(pair: tuple[Any, Any]) -> None:
    server, client = pair
    timed = TimedSocket(server, SETTINGS)
    client.sendall(b"head")
    assert timed.recv(10) == b"head"
    timed.reading_body()
    assert timed.phase is Phase.BODY
    dribbler = _dribble(client, 0.05, 100)
    started = time.monotonic()
    with pytest.raises(BodyTimeoutError, match="0.3 s"):
        while timed.recv(10):
            pass
    elapsed = time.monotonic() - started
    assert not dribbler.dead  # causal: raised while the body was still coming, byte by byte
    dribbler.kill()
    assert 0.28 <= elapsed < 0.3 + SLACK_S


def test_an_idle_connection_ends_after_the_keepalive_timeout(pair: tuple[Any, Any]) -> None:
    server, _ = pair
    timed = TimedSocket(server, SETTINGS)
    timed.awaiting_request()
    started = time.monotonic()
    assert timed.recv(10) == b""  # ended by the keep-alive timeout: nothing else would end it
    assert 0.28 <= time.monotonic() - started < 0.3 + SLACK_S


def test_a_next_request_starts_a_fresh_header_deadline(pair: tuple[Any, Any]) -> None:
    server, client = pair
    timed = TimedSocket(server, SETTINGS)
    timed.awaiting_request()
    gevent.spawn_later(0.2, client.sendall, b"GET")  # idle 0.2 s: within keep-alive
    assert timed.recv(10) == b"GET"
    assert timed.phase is Phase.HEADERS
    gevent.spawn_later(0.2, client.sendall, b" /")  # 0.4 s after the idle wait began
    assert timed.recv(10) == b" /"


def test_flagged_reads_pass_through_unbounded(pair: tuple[Any, Any]) -> None:
    server, client = pair
    timed = TimedSocket(server, SETTINGS)
    client.sendall(b"next")
    assert timed.recv(1, socket.MSG_PEEK) == b"n"
    assert timed.recv(10) == b"next"
    assert timed.fileno() == server.fileno()


def test_after_a_body_timeout_the_answer_still_reaches_the_client(pair: tuple[Any, Any]) -> None:
    server, client = pair
    timed = TimedSocket(server, SETTINGS)
    timed.reading_body()
    client.sendall(b"partial body")
    with pytest.raises(BodyTimeoutError):
        while timed.recv(100):
            pass
    timed.sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
    closer = gevent.spawn(timed.close)
    client.sendall(b"more of the body")  # still sending: the lingering close reads it out
    assert client.recv(100) == b"HTTP/1.1 408 Request Timeout\r\n\r\n"
    assert client.recv(100) == b""
    client.close()
    closer.join(2)
    assert closer.dead


def test_an_abandoned_body_is_not_read_any_more(pair: tuple[Any, Any]) -> None:
    server, client = pair
    timed = TimedSocket(server, SETTINGS)
    timed.reading_body()
    client.sendall(b"an unwanted body")
    timed.abandon()
    assert timed.recv(100) == b""  # gunicorn neither drains it nor parses another request
    timed.awaiting_request()
    assert timed.phase is Phase.CLOSING and timed.recv(100) == b""
