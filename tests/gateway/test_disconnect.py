"""The client-gone probe on real socket pairs, numbered above select()'s 1,024 too."""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import Iterator

import pytest

from gateway.disconnect import client_gone_probe


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


def test_a_connected_idle_client_is_not_gone(pair: tuple[socket.socket, socket.socket]) -> None:
    server, _ = pair
    assert client_gone_probe({"gunicorn.socket": server})() is False


def test_a_pipelined_next_request_is_not_gone(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    client.sendall(b"GET /health HTTP/1.1\r\n\r\n")
    assert client_gone_probe({"gunicorn.socket": server})() is False
    assert server.recv(100).startswith(b"GET")  # the peek left the bytes in place


def test_a_closed_client_is_gone(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    client.close()
    assert client_gone_probe({"gunicorn.socket": server})() is True


def test_no_socket_means_never_gone() -> None:
    assert client_gone_probe({})() is False


def test_a_socket_numbered_above_1024_is_probed_correctly() -> None:
    # issue 14.1: select.select() raised for such a socket and the probe said "gone".
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1100:
        if hard != resource.RLIM_INFINITY and hard < 1100:
            pytest.skip("the hard open-files limit is below 1,100")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1100 if hard == resource.RLIM_INFINITY else hard, hard))
    server, client = socket.socketpair()
    high = socket.socket(fileno=os.dup2(server.fileno(), 1050))
    try:
        assert high.fileno() >= 1024
        probe = client_gone_probe({"gunicorn.socket": high})
        assert probe() is False
        client.close()
        assert probe() is True
    finally:
        high.close()
        server.close()
        client.close()
