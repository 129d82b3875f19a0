"""The load driver, in its own process: `python -m bench.load` reads scenarios on stdin.

One JSON `Spec` a line in; JSON events a line out: `{"event": "measure"}` when the
measured window opens (after the warm-up), `{"event": "measured"}` when it closes,
`{"event": "open"}` (hold mode: every stream has its first byte), then the result.
The orchestrator reads CPU counters of the stack at those events.

HTTP/1.1 over raw asyncio protocols (uvloop when importable): keep-alive connections,
a fixed number of them each with one request in flight (a closed loop), content-length
and chunked bodies. Per request it measures the latency (request written -> body
complete) and the time to first body byte (TTFB: for a stream, the first chunk). Every
response gets a cheap content check; the first on each connection and every 50th get a
full parse compared with what the fake upstream said.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import msgspec

from bench import checks
from bench.tools import install_loop

FULL_CHECK_EVERY = 50
_OUT = msgspec.json.Encoder()


class Spec(msgspec.Struct, kw_only=True):
    """One scenario for the driver."""

    name: str
    port: int
    path: str
    body: str
    kind: str  # a checks.KINDS value
    expected: str = ""
    headers: dict[str, str] = {}
    host: str = "127.0.0.1"
    concurrency: int = 1
    duration: float = 3.0
    warmup: float = 0.5
    mode: str = "rate"  # "rate": closed loop for `duration`; "hold": one request per connection
    timeout: float = 60.0
    # When set ("rate" mode), each connection alternates `body` and this one, request by
    # request, and the alternate requests' figures come apart in the result's "alt": two
    # variants compared under exactly the same conditions (issue 16's deployments).
    alt_body: str = ""


_SPEC = msgspec.json.Decoder(Spec)


class Response:
    """What one request got back."""

    __slots__ = ("status", "body", "first_byte", "close")

    def __init__(self, status: int, body: bytes, first_byte: float, close: bool) -> None:
        self.status = status
        self.body = body
        self.first_byte = first_byte
        self.close = close


class ClientConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._future: asyncio.Future[Response] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self._head_done = False
        self._status = 0
        self._length: int | None = None
        self._chunked = False
        self._close = False
        self._first: float = 0.0
        self._body = bytearray()
        self._chunk_left = 0  # bytes of the current chunk still to read (+2 for its CRLF)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self._transport = transport  # type: ignore[assignment]

    @property
    def got_first_byte(self) -> bool:
        """Whether the request in flight has received body bytes."""
        return self._first > 0

    def request(self, raw: bytes) -> asyncio.Future[Response]:
        """Send one request; the future resolves with the whole response."""
        self._reset()
        future = self._future = self._loop.create_future()
        if self.closed or self._transport is None:
            future.set_exception(ConnectionError("connection closed"))
            return future
        self._timer = self._loop.call_later(self._timeout, self._expire)
        self._transport.write(raw)
        return future

    def _expire(self) -> None:
        self._fail(TimeoutError(f"no complete response in {self._timeout}s"))
        if self._transport is not None:
            self._transport.close()

    def _fail(self, ex: Exception) -> None:
        future, self._future = self._future, None
        if self._timer is not None:
            self._timer.cancel()
        if future is not None and not future.done():
            future.set_exception(ex)

    def _finish(self, body: bytes) -> None:
        future, self._future = self._future, None
        if self._timer is not None:
            self._timer.cancel()
        if future is not None and not future.done():
            future.set_result(Response(self._status, body, self._first, self._close))

    def data_received(self, data: bytes) -> None:
        """Parse as much of the response as has arrived."""
        buf = self._buf
        buf += data
        if not self._head_done:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self._parse_head(bytes(buf[:end]))
            del buf[:end + 4]
            self._head_done = True
        if buf and not self._first:
            self._first = time.perf_counter()
        if self._chunked:
            self._read_chunks()
        elif self._length is not None:
            if len(buf) >= self._length:
                body = bytes(buf[:self._length])
                del buf[:self._length]
                self._finish(body)
        # NOTE: neither length nor chunked: the body ends when the server closes

    def _parse_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        self._status = int(lines[0].split(b" ", 2)[1])
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                self._length = int(value)
            elif name == b"transfer-encoding":
                self._chunked = b"chunked" in value.lower()
            elif name == b"connection":
                self._close = value.strip().lower() == b"close"

    def _read_chunks(self) -> None:
        buf = self._buf
        while buf:
            if self._chunk_left:
                take = min(self._chunk_left, len(buf))
                data_left = self._chunk_left - 2  # the chunk's data, then its CRLF
                if data_left > 0:
                    self._body += buf[:min(take, data_left)]
                del buf[:take]
                self._chunk_left -= take
                continue
            eol = buf.find(b"\r\n")
            if eol < 0:
                return
            size = int(bytes(buf[:eol]).split(b";")[0], 16)
            if size == 0:
                if len(buf) < eol + 4:
                    return
                del buf[:eol + 4]
                self._finish(bytes(self._body))
                return
            del buf[:eol + 2]
            self._chunk_left = size + 2

    def eof_received(self) -> bool | None:
        """A body without length ends here."""
        if self._head_done and not self._chunked and self._length is None:
            self._close = True
            self._finish(bytes(self._buf))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail the request in flight, if any."""
        self.closed = True
        if self._head_done and not self._chunked and self._length is None:
            self._close = True
            self._finish(bytes(self._buf))
        else:
            self._fail(ConnectionError(f"connection lost: {exc}"))

    def close(self) -> None:
        """Close the connection."""
        if self._transport is not None:
            self._transport.close()


def percentiles(values: list[float]) -> dict[str, float] | None:
    """p50/p95/p99/mean/max in ms (nearest rank) of values in seconds."""
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)

    def rank(p: float) -> float:
        return ordered[min(n - 1, max(0, int(round(p / 100 * n + 0.5)) - 1))] * 1000

    return {"p50": round(rank(50), 3), "p95": round(rank(95), 3), "p99": round(rank(99), 3),
            "mean": round(sum(ordered) / n * 1000, 3), "max": round(ordered[-1] * 1000, 3)}


def raw_request(spec: Spec, alternate: bool = False) -> bytes:
    """The request bytes, identical for every send (of the body or of the alternate)."""
    body = (spec.alt_body if alternate else spec.body).encode()
    headers = {"host": f"{spec.host}:{spec.port}", "content-type": "application/json",
               "accept": "application/json", **spec.headers, "content-length": str(len(body))}
    head = f"POST {spec.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + body


class Run:
    """One scenario's connections and tallies."""

    def __init__(self, spec: Spec, emit: Any) -> None:
        self.spec = spec
        self.emit = emit
        self.raw = raw_request(spec)
        self.alt_raw = raw_request(spec, alternate=True) if spec.alt_body else None
        self.alt_latencies: list[float] = []
        self.alt_ttfbs: list[float] = []
        self.alt_ok = 0
        self.loop = asyncio.get_running_loop()
        self.measuring = False
        self.stopping = False
        self.window_end = 0.0
        self.latencies: list[float] = []
        self.ttfbs: list[float] = []
        self.ok = 0
        self.total = 0
        self.errors = 0
        self.error_samples: list[str] = []
        self.check_failures = 0
        self.check_samples: list[str] = []
        self.full_checks = 0
        self.bytes = 0
        self.first_bytes = 0

    async def connect(self) -> ClientConnection:
        """A new connection."""
        _, conn = await self.loop.create_connection(
            lambda: ClientConnection(self.loop, self.spec.timeout), self.spec.host, self.spec.port)
        return conn

    def _error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 3:
            self.error_samples.append(text[:300])

    def record(self, started: float, response: Response, done: float, fresh: bool, alt: bool = False) -> None:
        """Check one response and count it if it finished inside the window."""
        spec = self.spec
        self.total += 1
        if response.status != 200:
            self._error(f"HTTP {response.status}: {response.body[:200]!r}")
            return
        problem = checks.quick(spec.kind, response.body, spec.expected)
        if problem is None and (fresh or self.total % FULL_CHECK_EVERY == 0):
            self.full_checks += 1
            problem = checks.full(spec.kind, response.body, spec.expected)
        if problem is not None:
            self.check_failures += 1
            if len(self.check_samples) < 3:
                self.check_samples.append(problem[:300])
            return
        if self.measuring and done <= self.window_end and alt:
            self.alt_ok += 1
            self.alt_latencies.append(done - started)
            self.alt_ttfbs.append(response.first_byte - started)
        elif self.measuring and done <= self.window_end:
            self.ok += 1
            self.bytes += len(response.body)
            self.latencies.append(done - started)
            self.ttfbs.append(response.first_byte - started)

    async def loop_connection(self) -> None:
        """Closed loop: one request in flight until the run stops."""
        conn: ClientConnection | None = None
        fresh = True
        alt = False
        while not self.stopping:
            try:
                if conn is None or conn.closed:
                    conn, fresh = await self.connect(), True
                started = time.perf_counter()
                response = await conn.request(self.alt_raw if alt and self.alt_raw else self.raw)
                self.record(started, response, time.perf_counter(), fresh, alt)
                fresh = False
                alt = not alt and self.alt_raw is not None
                if response.close:
                    conn.close()
                    conn = None
            except (OSError, TimeoutError, ConnectionError) as ex:
                self._error(f"{type(ex).__name__}: {ex}")
                if conn is not None:
                    conn.close()
                conn = None
                await asyncio.sleep(0.05)
        if conn is not None:
            conn.close()

    async def rate(self) -> float:
        """Warm up, then measure for `duration`; returns the measured window's length."""
        tasks = [asyncio.ensure_future(self.loop_connection()) for _ in range(self.spec.concurrency)]
        await asyncio.sleep(self.spec.warmup)
        self.emit({"event": "measure"})
        started = time.perf_counter()
        self.window_end = started + self.spec.duration
        self.measuring = True
        await asyncio.sleep(self.spec.duration)
        elapsed = time.perf_counter() - started
        self.emit({"event": "measured"})
        self.stopping = True
        await asyncio.wait(tasks, timeout=self.spec.timeout)
        return elapsed

    async def hold(self) -> float:
        """Open `concurrency` requests at once and wait for all of them to end."""
        conns = await asyncio.gather(*[self.connect() for _ in range(self.spec.concurrency)], return_exceptions=True)
        live = [c for c in conns if isinstance(c, ClientConnection)]
        for c in conns:
            if not isinstance(c, ClientConnection):
                self._error(f"connect: {c}")
        self.emit({"event": "measure"})
        self.measuring = True
        self.window_end = float("inf")
        started = time.perf_counter()

        async def one(conn: ClientConnection) -> None:
            begun = time.perf_counter()
            try:
                response = await conn.request(self.raw)
                self.record(begun, response, time.perf_counter(), True)
            except (OSError, TimeoutError, ConnectionError) as ex:
                self._error(f"{type(ex).__name__}: {ex}")
            finally:
                conn.close()

        tasks = [asyncio.ensure_future(one(c)) for c in live]
        if tasks:
            watcher = asyncio.ensure_future(self._announce_open(live, started))
            await asyncio.wait(tasks)
            watcher.cancel()
        elapsed = time.perf_counter() - started
        self.emit({"event": "measured"})
        return elapsed

    async def _announce_open(self, conns: list[ClientConnection], started: float) -> None:
        while True:
            opened = sum(1 for c in conns if c.got_first_byte)
            if opened == len(conns):
                self.emit({"event": "open", "open": opened, "after_s": round(time.perf_counter() - started, 3)})
                return
            await asyncio.sleep(0.05)

    def result(self, elapsed: float) -> dict[str, Any]:
        """The scenario's figures."""
        stream = self.spec.kind in ("stream", "anthropic-stream")
        alt = None
        if self.alt_raw is not None:
            alt = {"ok": self.alt_ok, "rps": round(self.alt_ok / elapsed, 1) if elapsed > 0 else 0.0,
                   "latency_ms": percentiles(self.alt_latencies),
                   "ttfb_ms": percentiles(self.alt_ttfbs) if stream else None}
        return {
            "alt": alt,
            "event": "result", "name": self.spec.name, "ok": self.ok, "requests_total": self.total,
            "errors": self.errors, "error_samples": self.error_samples,
            "check_failures": self.check_failures, "check_samples": self.check_samples,
            "full_checks": self.full_checks, "elapsed_s": round(elapsed, 3),
            "rps": round(self.ok / elapsed, 1) if elapsed > 0 else 0.0,
            "latency_ms": percentiles(self.latencies),
            "ttfb_ms": percentiles(self.ttfbs) if stream else None,
            "bytes_per_response": round(self.bytes / self.ok) if self.ok else 0,
            "concurrency": self.spec.concurrency,
        }


async def run_spec(spec: Spec, emit: Any) -> dict[str, Any]:
    """Run one scenario and return its result."""
    run = Run(spec, emit)
    elapsed = await (run.hold() if spec.mode == "hold" else run.rate())
    return run.result(elapsed)


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.buffer.write(_OUT.encode(event) + b"\n")
    sys.stdout.buffer.flush()


async def serve_stdin() -> None:
    """Run the scenarios read from stdin, one at a time, until EOF."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.buffer.readline)
        if not line:
            return
        if not line.strip():
            continue
        try:
            spec = _SPEC.decode(line)
        except msgspec.DecodeError as ex:
            _emit({"event": "result", "error": f"bad spec: {ex}"})
            continue
        _emit(await run_spec(spec, _emit))


def main() -> int:
    """Entry point of the driver process."""
    install_loop()
    try:
        asyncio.run(serve_stdin())
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
