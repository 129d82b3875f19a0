"""The gateway's HTTP server under many connections and slow clients (issue 14, items 1-2).

Real sockets against real gunicorn gateways: the session's gateway, and gateways of this
module with their own `[gateway]` timeouts and connection cap.
"""

from __future__ import annotations

import json
import resource
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.harness.stack import Stack

CONNECTIONS_PAST_SELECT = 1100  # select.select() refuses file descriptors >= 1024


def raise_fd_limit(needed: int) -> None:
    """Lift this process's soft RLIMIT_NOFILE towards the hard limit (skip if too low)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = hard if hard == resource.RLIM_INFINITY else min(hard, max(needed, soft))
        if target != resource.RLIM_INFINITY and target < needed:
            pytest.skip(f"needs {needed} open files; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def open_idle(port: int, count: int) -> list[socket.socket]:
    """`count` connected sockets that send nothing."""
    socks = []
    for _ in range(count):
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    return socks


@pytest.fixture
def idle_connections(stack: Stack) -> Iterator[list[socket.socket]]:
    """1,100 idle connections held open on the session gateway."""
    raise_fd_limit(CONNECTIONS_PAST_SELECT + 512)
    socks = open_idle(stack.gateway_port, CONNECTIONS_PAST_SELECT)
    try:
        yield socks
    finally:
        for sock in socks:
            sock.close()


def test_a_request_waiting_past_a_second_is_served_with_1100_connections_open(
    stack: Stack, api_key: str, idle_connections: list[socket.socket]
) -> None:
    # issue 14.1: the client-gone probe used select.select, which raises for a socket
    # numbered >= 1024, and the error counted as "client gone": 499, billed as cancelled.
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "#scenario slow 1.5"}]}
    with httpx.Client(timeout=20) as http:
        response = http.post(f"{stack.base_url}/chat/completions", json=body,
                             headers={"authorization": f"Bearer {api_key}"})
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "fake: #scenario slow 1.5"
    event = stack.usage_for(response.headers["x-request-id"])
    assert event.status == "ok" and not event.estimated
    assert event.prompt_tokens == 11 and event.completion_tokens == 4  # "fake: #scenario slow 1.5"
