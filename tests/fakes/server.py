"""A base for fake upstream HTTP servers, run in a thread of the test process.

A fake speaks one provider's protocol byte for byte: it writes status, headers and body
itself, and for SSE writes each event and flushes it, like the real server. Each fake
records the requests it received so tests can assert what reached the upstream.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request as the fake saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class Exchange:
    """The handler's view of one request, with ways to answer it."""

    request: Received
    handler: BaseHTTPRequestHandler
    closed: bool = field(default=False)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        """A whole JSON response."""
        self.send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    def send_bytes(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        """A whole response with the given body."""
        h = self.handler
        h.send_response(status)
        h.send_header("content-type", content_type)
        h.send_header("content-length", str(len(body)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()

    def start_sse(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Start an event stream (connection closes at the end, no chunked encoding)."""
        h = self.handler
        h.close_connection = True
        h.send_response(status)
        h.send_header("content-type", "text/event-stream")
        h.send_header("cache-control", "no-cache")
        h.send_header("connection", "close")
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.flush()

    def write(self, raw: bytes, delay: float = 0.0) -> bool:
        """Write raw stream bytes and flush; False once the client has gone away."""
        if delay:
            time.sleep(delay)
        try:
            self.handler.wfile.write(raw)
            self.handler.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.closed = True
            return False

    def event(self, data: str, event: str | None = None, delay: float = 0.0) -> bool:
        """Write one SSE event (`event:` line when given) and flush."""
        head = f"event: {event}\n" if event else ""
        return self.write(f"{head}data: {data}\n\n".encode(), delay)

    def drop(self) -> None:
        """Cut the connection abruptly (an upstream dying mid-response)."""
        try:
            self.handler.wfile.flush()
            self.handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.handler.close_connection = True


def header_echo(request: Received) -> str:
    """What a careless upstream (or a proxy in front of it) says back on an error: every
    request header, in HTTP and in JSON form, and the URL with the key moved into a
    `?key=` query (as Google's API also accepts it). Scenario `echo_headers` of each fake
    puts this in its error body, for the tests that no secret reaches a caller."""
    headers = request.headers
    key = (headers.get("x-goog-api-key") or headers.get("x-api-key")
           or headers.get("authorization", "").removeprefix("Bearer "))
    joiner = "&" if "?" in request.path else "?"
    lines = "; ".join(f"{name}: {value}" for name, value in headers.items())
    return f"echo of {request.method} {request.path}{joiner}key={key} headers {json.dumps(headers)} raw {lines}"


class FakeServer:
    """Subclass and implement `handle(ex)`; start() binds a free loopback port."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handle(self, ex: Exchange) -> None:  # pragma: no cover - abstract
        """Answer one request."""
        raise NotImplementedError

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://127.0.0.1:{self.port}"

    def requests_to(self, path_part: str) -> list[Received]:
        """Requests whose path contains `path_part`."""
        with self._lock:
            return [r for r in self.received if path_part in r.path]

    def start(self) -> FakeServer:
        """Serve in a daemon thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                received = Received(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with fake._lock:
                    fake.received.append(received)
                fake.handle(Exchange(received, self))

            do_GET = _serve
            do_POST = _serve

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
