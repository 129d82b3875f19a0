"""A lean HTTP/1.1 transport for httpx: keep-alive connections on asyncio streams.

httpx stays the upstream client API; only its transport is replaced. The benchmark
(docs/benchmarks.md) found httpcore's pool bookkeeping (including a readability check of
every idle connection per request) to be most of a worker's CPU: ~0.7 ms per request at
concurrency 1 and several ms at 64. This transport does what upstream calls need and no
more: one request per connection at a time, `Content-Length`, chunked or
read-until-close bodies, TLS through asyncio, a bounded pool per origin, and the httpx
exception types (so `workers/upstream.py` maps errors exactly as before).

A reused keep-alive connection that the server had already closed yields EOF before any
status byte; such a request is sent once more on a fresh connection (nothing of it was
processed). HTTP proxies are not supported here: `workers/upstream.py` keeps httpx's own
transport when proxy variables are set.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable

import certifi
import httpx

MAX_LINE = 64 * 1024
MAX_HEADERS = 200
READ_SIZE = 64 * 1024


class _Connection:
    """One open connection to an origin."""

    __slots__ = ("reader", "writer", "reused")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = False

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


Origin = tuple[str, str, int]


class _StaleConnectionError(Exception):
    """A reused connection was closed by the server before it answered."""


class _Body(httpx.AsyncByteStream):
    """The response body; gives the connection back to the pool once read to its end."""

    def __init__(self, transport: Http1Transport, origin: Origin, conn: _Connection,
                 length: int | None, chunked: bool, keep_alive: bool, read_timeout: float | None) -> None:
        self._transport = transport
        self._origin = origin
        self._conn = conn
        self._length = length
        self._chunked = chunked
        self._keep_alive = keep_alive
        self._timeout = read_timeout
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        reader = self._conn.reader
        try:
            if self._chunked:
                async for piece in self._chunks(reader):
                    yield piece
            elif self._length is not None:
                left = self._length
                while left > 0:
                    piece = await _read(reader.read(min(left, READ_SIZE)), self._timeout)
                    if not piece:
                        raise httpx.RemoteProtocolError("connection closed before the whole body arrived")
                    left -= len(piece)
                    yield piece
            else:
                while piece := await _read(reader.read(READ_SIZE), self._timeout):
                    yield piece
                self._keep_alive = False
            self._done = True
        except OSError as ex:
            raise httpx.ReadError(f"{type(ex).__name__}: {ex}") from ex

    async def _chunks(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            line = await _line(reader, self._timeout)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as ex:
                raise httpx.RemoteProtocolError(f"bad chunk size line {line[:40]!r}") from ex
            if size == 0:
                while await _line(reader, self._timeout):
                    pass  # trailers
                return
            left = size
            while left > 0:
                piece = await _read(reader.read(min(left, READ_SIZE)), self._timeout)
                if not piece:
                    raise httpx.RemoteProtocolError("connection closed inside a chunk")
                left -= len(piece)
                yield piece
            if await _line(reader, self._timeout):
                raise httpx.RemoteProtocolError("chunk not followed by CRLF")

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None  # type: ignore[assignment]
        if conn is None:
            return
        if self._done and self._keep_alive:
            self._transport._release(self._origin, conn)
        else:
            conn.close()
            self._transport._forget()


async def _read(operation: Awaitable[bytes], timeout: float | None) -> bytes:
    # PERF: asyncio.timeout is a context, not a task per read like wait_for
    try:
        async with asyncio.timeout(timeout):
            return await operation
    except TimeoutError as ex:
        raise httpx.ReadTimeout("upstream sent nothing within the read timeout") from ex


async def _line(reader: asyncio.StreamReader, timeout: float | None) -> bytes:
    """One CRLF-terminated line without its terminator."""
    try:
        line = await _read(reader.readuntil(b"\n"), timeout)
    except asyncio.IncompleteReadError as ex:
        raise httpx.RemoteProtocolError("connection closed mid-line") from ex
    except asyncio.LimitOverrunError as ex:
        raise httpx.RemoteProtocolError("line too long") from ex
    return line.rstrip(b"\r\n")


class Http1Transport(httpx.AsyncBaseTransport):
    """A pooled HTTP/1.1 transport (see the module docstring)."""

    def __init__(self, max_connections: int = 1000, max_idle_per_origin: int = 256) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._max_idle = max_idle_per_origin
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context(cafile=certifi.where())
        return self._ssl

    async def _open(self, origin: Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        tls = self._ssl_context() if scheme == "https" else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=tls, server_hostname=host if tls else None, limit=MAX_LINE),
                timeout,
            )
        except (asyncio.TimeoutError, TimeoutError) as ex:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from ex
        except OSError as ex:
            raise httpx.ConnectError(f"{type(ex).__name__}: {ex}") from ex
        return _Connection(reader, writer)

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.usable():
                conn.reused = True
                return conn
            conn.close()
            self._slots.release()
        return None

    def _release(self, origin: Origin, conn: _Connection) -> None:
        idle = self._idle.setdefault(origin, deque())
        if len(idle) < self._max_idle and conn.usable():
            idle.append(conn)
        else:
            conn.close()
            self._slots.release()

    def _forget(self) -> None:
        self._slots.release()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request; the body streams from the connection."""
        url = request.url
        origin: Origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        timeouts = request.extensions.get("timeout", {})
        body = await request.aread()
        head = _request_head(request, body)
        for attempt in range(2):
            conn = self._take_idle(origin)
            if conn is None:
                await asyncio.wait_for(self._slots.acquire(), timeouts.get("pool"))
                try:
                    conn = await self._open(origin, timeouts.get("connect"))
                except BaseException:
                    self._slots.release()
                    raise
            try:
                return await self._exchange(request, origin, conn, head + body, timeouts.get("read"))
            except _StaleConnectionError:
                conn.close()
                self._slots.release()
                if attempt:
                    raise httpx.RemoteProtocolError("server closed the connection without a response") from None
            except BaseException:
                conn.close()
                self._slots.release()
                raise
        raise AssertionError("unreachable")

    async def _exchange(self, request: httpx.Request, origin: Origin, conn: _Connection, payload: bytes,
                        read_timeout: float | None) -> httpx.Response:
        try:
            conn.writer.write(payload)
            await conn.writer.drain()
            status_line = await _read(conn.reader.readuntil(b"\n"), read_timeout)
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as ex:
            if conn.reused:
                raise _StaleConnectionError() from ex
            raise httpx.RemoteProtocolError("server closed the connection without a response") from ex
        except OSError as ex:
            raise httpx.ReadError(f"{type(ex).__name__}: {ex}") from ex
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise httpx.RemoteProtocolError(f"bad status line {status_line[:60]!r}")
        status = int(parts[1])
        headers: list[tuple[bytes, bytes]] = []
        while True:
            line = await _line(conn.reader, read_timeout)
            if not line:
                break
            if len(headers) >= MAX_HEADERS:
                raise httpx.RemoteProtocolError("too many response headers")
            name, sep, value = line.partition(b":")
            if not sep:
                raise httpx.RemoteProtocolError(f"bad header line {line[:60]!r}")
            headers.append((name.strip(), value.strip()))
        length, chunked, keep_alive = _framing(headers, parts[0])
        if status in (204, 304) or 100 <= status < 200:
            length, chunked = 0, False
        stream = _Body(self, origin, conn, length, chunked, keep_alive, read_timeout)
        return httpx.Response(status, headers=headers, stream=stream, request=request,
                              extensions={"http_version": parts[0]})

    async def aclose(self) -> None:
        """Close every idle connection."""
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()


def _request_head(request: httpx.Request, body: bytes) -> bytes:
    url = request.url
    target = url.raw_path or b"/"
    lines = [request.method.encode() + b" " + target + b" HTTP/1.1"]
    has_length = False
    for name, value in request.headers.raw:
        lower = name.lower()
        if lower == b"transfer-encoding":
            continue  # the body is always sent whole, with its length
        if lower == b"content-length":
            has_length = True
            value = str(len(body)).encode()
        lines.append(name + b": " + value)
    if not has_length and (body or request.method in ("POST", "PUT", "PATCH")):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _framing(headers: list[tuple[bytes, bytes]], version: bytes) -> tuple[int | None, bool, bool]:
    """(content length, chunked, keep-alive) from the response headers."""
    length: int | None = None
    chunked = False
    keep_alive = version == b"HTTP/1.1"
    for name, value in headers:
        lower = name.lower()
        if lower == b"content-length":
            try:
                length = int(value)
            except ValueError as ex:
                raise httpx.RemoteProtocolError("bad content-length") from ex
        elif lower == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif lower == b"connection":
            token = value.lower()
            if b"close" in token:
                keep_alive = False
            elif b"keep-alive" in token:
                keep_alive = True
    if chunked:
        length = None
    elif length is None:
        keep_alive = False  # the body ends when the server closes
    return length, chunked, keep_alive
