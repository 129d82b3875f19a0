"""One client connection as gunicorn reads it, with deadlines on every read.

gunicorn's parser and request body read the socket through `recv` alone, so the deadlines
live here, in one place (issue 14, item 2), and `gateway/server.py` moves a connection
from phase to phase:

- headers: from the accept (or from the first byte of a later request) to the end of the
  headers, `header_timeout_s` in all. Past it, `recv` reports end of file: gunicorn closes
  the connection without an answer, as for a client that left.
- body: from the end of the headers, `body_timeout_s` for the whole body, however it is
  framed. Past it, `recv` raises `BodyTimeoutError`, which the app answers with a 408;
  the connection is then closed.
- closing: a body the app will not read (too slow, or over `max_body_bytes`) is not
  drained: the answer goes out and the connection closes (`abandon`).
- idle: a kept-alive connection waits `keepalive_timeout_s` for the first byte of its
  next request, then it is in the headers phase again; an idle one is closed.

A total deadline per phase, not a timeout per read: a client dribbling a byte a second
never waits long on any one read, and would otherwise hold its connection for ever.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from enum import Enum
from typing import Any

import gevent

from gateway.contracts.config import GatewaySettings

# After a body timed out the client may still be sending: closing at once would reset the
# connection and could destroy the 408 before the client reads it, so the socket is shut
# for writing and read out for at most this long first (a lingering close).
LINGER_S = 1.0


class BodyTimeoutError(Exception):
    """The request body did not arrive within `[gateway] body_timeout_s`."""


class Phase(Enum):
    """What the connection is waiting for."""

    HEADERS = "headers"
    BODY = "body"
    IDLE = "idle"
    CLOSING = "closing"  # the rest of the request is not wanted: no more reads


class TimedSocket:
    """A gevent socket whose plain reads are bounded by the current phase's deadline.

    Everything but `recv` and `close` goes to the socket itself, so gunicorn writes,
    peeks (the client-gone probe) and `fileno()` work as before.
    """

    def __init__(self, sock: Any, settings: GatewaySettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sock = sock
        self._settings = settings
        self._clock = clock
        self._phase = Phase.HEADERS
        self._deadline = clock() + settings.header_timeout_s
        self._linger = False
        self.sendall = sock.sendall  # PERF: the response path skips __getattr__

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    @property
    def phase(self) -> Phase:
        """The current phase."""
        return self._phase

    def reading_body(self) -> None:
        """The headers are in: the body has `body_timeout_s` from now."""
        self._phase = Phase.BODY
        self._deadline = self._clock() + self._settings.body_timeout_s

    def awaiting_request(self) -> None:
        """The response is out: wait, idle, for the next request."""
        if self._phase is not Phase.CLOSING:
            self._phase = Phase.IDLE

    def abandon(self) -> None:
        """The rest of this request's body will not be read (it is over the limit, or too
        slow): reads now report end of file, so gunicorn neither drains it nor parses
        another request, and the close lingers so the answer still reaches the client."""
        self._phase = Phase.CLOSING
        self._linger = True

    def recv(self, size: int, flags: int = 0) -> bytes:
        """Read like `socket.recv`, within the phase's deadline (flagged reads: unbounded,
        they are the probe's non-blocking peeks)."""
        if flags:
            return bytes(self._sock.recv(size, flags))
        if self._phase is Phase.CLOSING:
            return b""
        if self._phase is Phase.IDLE:
            data = self._recv_within(self._settings.keepalive_timeout_s, size)
            if data is None:
                return b""  # NOTE: idle too long; gunicorn ends the connection quietly
            self._phase = Phase.HEADERS
            self._deadline = self._clock() + self._settings.header_timeout_s
            return data
        data = self._recv_within(self._deadline - self._clock(), size)
        if data is not None:
            return data
        if self._phase is Phase.BODY:
            self.abandon()
            raise BodyTimeoutError(
                f"The request body did not arrive within {self._settings.body_timeout_s:g} s."
            )
        return b""  # NOTE: headers too slow: closed unanswered, as a client that left

    def _recv_within(self, timeout: float, size: int) -> bytes | None:
        """One read waiting at most `timeout` seconds; None when nothing came in time."""
        if timeout <= 0:
            return None
        self._sock.settimeout(timeout)
        try:
            return bytes(self._sock.recv(size))
        except socket.timeout:
            return None
        finally:
            self._sock.settimeout(None)

    def close(self) -> None:
        """Close; after an abandoned body, a lingering close (see LINGER_S)."""
        if self._linger:
            try:
                self._sock.shutdown(socket.SHUT_WR)
                with gevent.Timeout(LINGER_S, False):
                    while self._sock.recv(65536):
                        pass
            except OSError:
                pass
        self._sock.close()
