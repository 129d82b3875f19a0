"""The gateway's gunicorn worker: gevent's, with limits on connections and slow clients.

gunicorn's gevent worker accepts into a pool of `worker_connections` greenlets and, once
the pool is full, stops accepting: new clients then wait unanswered in the listen backlog
(4,200 idle connections made the gateway unreachable, issue 14 item 2). Here:

- `[gateway] max_connections` caps the connections one process serves; past it a new
  connection is answered at once, 503 `too_many_connections` with `retry-after`, and
  closed. The pool is larger than the cap by REFUSAL_HEADROOM so refusing still has room.
- every connection is read through `gateway.connection.TimedSocket`: header, body and
  keep-alive deadlines (`header_timeout_s`, `body_timeout_s`, `keepalive_timeout_s`).
- errors gunicorn answers itself (431, 414, 400...) leave in OpenAI's error shape, not
  gunicorn's HTML page (item 7).
- at start the process lifts its soft open-files limit to the hard limit: each connection
  is a descriptor, and the usual soft limit (1,024) is far below `max_connections`.

Selected in gateway/gunicorn_conf.py (`worker_class`).
"""

from __future__ import annotations

import html
import re
import resource
import socket
from contextlib import nullcontext
from typing import Any

import gevent
from gunicorn.workers.ggevent import GeventWorker

from gateway.connection import LINGER_S, TimedSocket
from gateway.contracts import config as configuration
from gateway.contracts.config import GatewaySettings
from gateway.contracts.errors import server_error, too_many_connections
from gateway.contracts.log import Logger
from gateway.errors import raw_response

# Greenlets beyond the cap, for connections being refused (each lives at most LINGER_S).
REFUSAL_HEADROOM = 1024
# Descriptors a process needs besides its client connections (NATS, logs, listeners...).
SPARE_DESCRIPTORS = 64
_STATUS_LINE = re.compile(rb"^HTTP/1\.[01] (\d{3}) ")
_DETAIL = re.compile(r"<body>.*?</h1>\s*(.*?)\s*</body>", re.S)


def raise_open_files_limit(wanted: int, log: Logger) -> int:
    """Lift the soft RLIMIT_NOFILE to the hard limit; the limit in force afterwards.

    Logs a warning when even the hard limit is below `wanted` (raise it in the service
    manager: `LimitNOFILE=` in systemd, `ulimit -Hn` in a shell).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if soft == resource.RLIM_INFINITY or target <= soft:
        target = soft
    else:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as ex:
            log.warning("open_files_limit_not_raised", soft=soft, hard=hard, error=str(ex))
            target = soft
    if target != resource.RLIM_INFINITY and target < wanted:
        log.warning("open_files_limit_low", limit=target, wanted=wanted,
                    hint="connections past the limit fail to be accepted; raise the hard limit")
    return int(target)


class _Captured:
    """Stands in for the client while gunicorn writes its HTML error page."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float | None:
        return None

    def setblocking(self, flag: bool) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.data += data


class GatewayWorker(GeventWorker):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's gevent worker with the limits above."""

    settings: GatewaySettings
    open_connections: int

    def init_process(self) -> None:
        """After the fork: read `[gateway]`, size the pool, lift the open-files limit."""
        log = Logger("gateway")
        self.settings = configuration.load().gateway
        self.open_connections = 0
        self.worker_connections = self.settings.max_connections + REFUSAL_HEADROOM
        raise_open_files_limit(self.worker_connections + SPARE_DESCRIPTORS, log)
        super().init_process()

    def timeout_ctx(self) -> Any:
        """No timer around gunicorn's header read: TimedSocket bounds every read itself."""
        return nullcontext()

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        """Serve one connection, or refuse it at once when the process is full."""
        if self.open_connections >= self.settings.max_connections:
            self._refuse(client)
            return
        self.open_connections += 1
        try:
            super().handle(listener, TimedSocket(client, self.settings), addr)
        finally:
            self.open_connections -= 1

    def handle_request(self, listener_name: Any, req: Any, sock: TimedSocket, addr: Any) -> bool:
        """One request: its body is read within `body_timeout_s`, then the connection idles."""
        sock.reading_body()
        try:
            return bool(super().handle_request(listener_name, req, sock, addr))
        finally:
            sock.awaiting_request()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """gunicorn's own refusals, status and all, in OpenAI's error shape."""
        page = _Captured()
        super().handle_error(req, page, addr, exc)  # NOTE: classifies and writes the access log
        status = _STATUS_LINE.match(page.data)
        detail = _DETAIL.search(page.data.decode("latin-1"))
        error = server_error(int(status.group(1)) if status else 500, html.unescape(detail.group(1)) if detail else "")
        try:
            client.sendall(raw_response(error))
        except OSError:
            pass

    def _refuse(self, client: Any) -> None:
        """503 at once; then a short lingering close, so the client reads it."""
        try:
            client.sendall(raw_response(too_many_connections(self.settings.max_connections)))
            client.shutdown(socket.SHUT_WR)
            with gevent.Timeout(LINGER_S, False):
                while client.recv(65536):
                    pass
        except OSError:
            pass
        finally:
            client.close()

