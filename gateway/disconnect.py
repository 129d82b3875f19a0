"""Noticing a client that went away while its request waits for the first frame.

A stream notices a vanished client when a write fails (gunicorn then closes the response
iterator). Before any byte is written, and for a whole non-stream request, nothing is
written, so the relay asks this probe every second and on every heartbeat: the socket is
readable and a peek reads EOF, or the socket reports a hang-up or an error. Bytes of a
pipelined next request do not count as gone.

NOTE: poll(2), not select(2): select.select() raises ValueError for a descriptor >= 1024
(FD_SETSIZE), and a busy gateway hands out such descriptors; that error used to read as
"client gone" and cancelled live requests (issue 14, item 1). The original, unpatched
poll is used: with a zero timeout it never blocks, so there is nothing for gevent to wait on.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable, Mapping
from typing import Any

from gevent import monkey

Probe = Callable[[], bool]

_poll: Callable[[], Any] = monkey.get_original("select", "poll")
_READABLE = select.POLLIN | select.POLLPRI
_BROKEN = select.POLLHUP | select.POLLERR | select.POLLNVAL


def _never() -> bool:
    return False


def client_gone_probe(environ: Mapping[str, Any]) -> Probe:
    """A probe for the connection behind this WSGI request (never gone if unknown)."""
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return _never

    def gone() -> bool:
        try:
            poller = _poll()
            poller.register(sock.fileno(), _READABLE)
            events = poller.poll(0)
            if not events:
                return False
            if events[0][1] & _BROKEN:
                return True  # both directions shut, reset, or the descriptor is not open
            return bool(sock.recv(1, socket.MSG_PEEK) == b"")
        except (OSError, ValueError):
            return True  # NOTE: a closed socket (fileno -1) or a reset connection

    return gone
