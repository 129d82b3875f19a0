"""HTTP/1.1 on raw sockets, for what no client library sends: slow, partial or odd requests.

Also the module gateways of the HTTP tests: the session stack's NATS and worker, with a
gateway of their own `[gateway]` settings.
"""

from __future__ import annotations

import json
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.conftest import GATEWAY_MODELS, GATEWAY_ONLY, MODELS, PROVIDERS
from tests.fakes.openai import FakeOpenAI
from tests.harness.procs import Proc
from tests.harness.stack import Stack


@dataclass
class Response:
    """One parsed response."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    """A connected client socket."""
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def request(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """The bytes of one request (Host added; Content-Length when there is a body)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    all_headers = dict(headers or {})
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k in all_headers):
        all_headers["Content-Length"] = str(len(body))
    lines += [f"{k}: {v}" for k, v in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def read_response(sock: socket.socket) -> Response:
    """Read one response framed by Content-Length or chunked encoding (raises on EOF)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"closed before a response ({data!r})")
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    response = Response(int(lines[0].split(" ")[1]))
    for line in lines[1:]:
        name, _, value = line.partition(":")
        response.headers[name.strip().lower()] = value.strip()
    if response.headers.get("transfer-encoding") == "chunked":
        while not rest.endswith(b"0\r\n\r\n"):
            piece = sock.recv(65536)
            if not piece:
                raise ConnectionError("closed inside a chunked body")
            rest += piece
        body = b""
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            body, rest = body + rest[:size], rest[size + 2 :]
        response.body = body
        return response
    length = int(response.headers.get("content-length", "0"))
    while len(rest) < length:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError("closed inside the body")
        rest += piece
    response.body = rest[:length]
    return response


def exchange(port: int, raw: bytes, timeout: float = 10.0) -> Response:
    """Send `raw` on a new connection and read the response."""
    with connect(port, timeout) as sock:
        sock.sendall(raw)
        return read_response(sock)


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `sock` (EOF or reset), None if still open after
    `seconds`; response bytes meanwhile are an error."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        data = sock.recv(65536)
    except TimeoutError:
        return None
    except ConnectionResetError:
        return time.monotonic() - started
    assert data == b"", f"expected the connection closed without an answer, got {data[:200]!r}"
    return time.monotonic() - started


def start_module_gateway(stack: Stack, fake_openai: FakeOpenAI, name: str, settings: str, more: str = "",
                         heartbeat_s: float | None = None) -> Proc:
    """A gateway beside the session's, on the same NATS and workers, with `settings`
    added to its `[gateway]` section, `more` (providers, models) to its config, and
    `heartbeat_s` as its `[workers]` heartbeat (that of the slowest worker it uses)."""
    text = (PROVIDERS + GATEWAY_ONLY + MODELS + GATEWAY_MODELS).format(
        fake=fake_openai.url, anthropic="http://127.0.0.1:9", gemini="http://127.0.0.1:9") + more
    text = text.replace("[gateway]\n", "[gateway]\n" + settings.strip() + "\n", 1)
    if heartbeat_s is not None:
        text, count = re.subn(r"(\[workers\]\nheartbeat_s = )[0-9.]+", rf"\g<1>{heartbeat_s}", text, count=1)
        assert count == 1, "the shared config has no [workers] heartbeat_s to replace"
    config = stack.write_config(f"{name}.toml", text)
    return stack.start_gateway(config, name=name, primary=False)
