"""Noticing a client that went away while its request waits for the first frame.

A stream notices a vanished client when a write fails (gunicorn then closes the response
iterator). Before any byte is written, and for a whole non-stream request, nothing is
written, so the relay asks this probe every second: the socket is readable and a peek
reads EOF. Bytes of a pipelined next request do not count as gone.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable, Mapping
from typing import Any

Probe = Callable[[], bool]


def _never() -> bool:
    return False


def client_gone_probe(environ: Mapping[str, Any]) -> Probe:
    """A probe for the connection behind this WSGI request (never gone if unknown)."""
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return _never

    def gone() -> bool:
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    return gone
