"""The gevent <-> asyncio bridge: nats-py on one asyncio loop in a real OS thread.

Nothing else in the gateway knows there are two concurrency worlds. Greenlets hand work
to the loop through a deque plus one `call_soon_threadsafe` per batch; the loop hands
results back through a deque plus one libev async watcher (`send()` is thread-safe and
coalesces wake-ups), whose callback runs in the hub and only does non-blocking puts.
A greenlet therefore only ever waits on gevent primitives, never on a native lock
(which would freeze the hub).

Start-up follows ../shared/BRIDGE-NOTES.md (pitfalls 1-3): the hub and the loop are made
in the main thread before the OS thread starts (`_thread.start_new_thread`, the only
truly native thread factory after patching), the loop uses the original epoll selector,
and asyncio's socket module is pointed at a namespace with the original socket class,
so no gevent socket (and no second hub) ever appears in the loop thread.

All replies of this process share one wildcard inbox subscription; a token in the reply
subject routes each message to the waiting greenlet's queue.

When the connection to NATS drops, every waiting greenlet gets `BUS_DOWN` at once (its
frames cannot arrive: core NATS does not keep them) and `down` stays true until nats-py
has reconnected, so requests fail fast instead of waiting out the idle timeout.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import asyncio.selector_events
import itertools
import secrets
import types
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import gevent
import gevent.event
import gevent.queue
import nats
from gevent.monkey import get_original
from nats.aio.client import Client
from nats.aio.msg import Msg

from gateway.runtime import natsbus
from gateway.contracts.log import Logger

T = TypeVar("T")
NO_RESPONDERS = object()  # queued instead of a frame when no worker is subscribed
BUS_DOWN = object()  # queued to every waiter when the connection to NATS is lost
SHUTDOWN = object()  # queued to every waiter when a shutdown's grace is over
_STATUS_NO_RESPONDERS = "503"


def _native_socket_namespace() -> types.ModuleType:
    """The socket module as asyncio needs it, with the original (non-gevent) classes."""
    import _socket
    import socket as patched

    original_socket = get_original("socket", "socket")

    def socketpair(family: int = _socket.AF_UNIX, type: int = _socket.SOCK_STREAM, proto: int = 0) -> tuple[Any, Any]:
        a, b = _socket.socketpair(family, type, proto)
        return original_socket(family, type, proto, a.detach()), original_socket(family, type, proto, b.detach())

    namespace = types.ModuleType("socket")
    namespace.__dict__.update(patched.__dict__)
    namespace.socket = original_socket  # type: ignore[attr-defined]
    namespace.socketpair = socketpair  # type: ignore[attr-defined]
    namespace.getaddrinfo = get_original("socket", "getaddrinfo")  # type: ignore[attr-defined]
    return namespace


class _Loop(asyncio.SelectorEventLoop):
    """A loop that resolves names inline: the default executor would spawn (patched) threads."""

    async def getaddrinfo(self, host: Any, port: Any, *, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        resolve = get_original("socket", "getaddrinfo")
        return resolve(host, port, family, type, proto, flags)


class Reply:
    """The frames of one request, as they arrive; `close()` when done."""

    __slots__ = ("_bridge", "token", "queue")

    def __init__(self, bridge: Bridge, token: str, queue: gevent.queue.Queue) -> None:
        self._bridge = bridge
        self.token = token
        self.queue = queue

    def get(self, timeout: float) -> Any:
        """The next message payload (bytes), NO_RESPONDERS or BUS_DOWN; raises gevent.queue.Empty."""
        return self.queue.get(timeout=timeout)

    def close(self) -> None:
        """Stop routing messages to this reply."""
        self._bridge._waiters.pop(self.token, None)


Startup = Callable[[Client], Awaitable[None]]


class Bridge:
    """One NATS connection per gateway process, used from greenlets."""

    def __init__(self, url: str, log: Logger, name: str = "gateway") -> None:
        self.url = url
        self.name = name
        self._log = log
        self._inbox = f"{natsbus.JOB_REPLY_PREFIX}.{secrets.token_hex(8)}."
        self._tokens = itertools.count(1)
        self._waiters: dict[str, gevent.queue.Queue] = {}
        self._inbound: deque[Callable[[], None]] = deque()
        self._outbound: deque[tuple[str, bytes, str, dict[str, str] | None]] = deque()
        self._scheduled = False
        self._startups: list[Startup] = []
        self._connected = gevent.event.Event()
        self.down = False  # (hub) connected once, and the connection is lost right now
        self.draining = False  # (hub) shutting down: no new requests
        self._nc: Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: Any = None
        self.max_payload = 1024 * 1024  # the server's, once connected

    def on_connect(self, startup: Startup) -> None:
        """Run `startup(nc)` on the loop once connected (watchers, buckets); before start()."""
        self._startups.append(startup)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the loop thread; connection happens in the background (see `ready`)."""
        hub = gevent.get_hub()  # NOTE: the hub must exist before the thread starts (pitfall 3)
        namespace = _native_socket_namespace()
        setattr(asyncio.base_events, "socket", namespace)  # noqa: B010 - a module attribute, by design
        setattr(asyncio.selector_events, "socket", namespace)  # noqa: B010
        selector = get_original("selectors", "EpollSelector")()
        self._loop = _Loop(selector)
        self._watcher = hub.loop.async_()
        self._watcher.start(self._drain_inbound)
        start_thread = get_original("_thread", "start_new_thread")
        start_thread(self._thread_main, ())

    def _thread_main(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        loop.create_task(self._connect())
        loop.run_forever()

    async def _connect(self) -> None:
        while True:
            try:
                nc = await natsbus.connect("gateway", name=self.name, log=self._log, url=self.url, wait_s=None,
                                           pending_size=64 * 1024 * 1024, disconnected_cb=self._on_disconnected,
                                           reconnected_cb=self._on_reconnected)
                break
            except PermissionError as ex:
                # NOTE: not ready (so /health says 503) until the credentials are fixed
                self._log.error("nats_auth_refused", error=str(ex))
                await asyncio.sleep(5.0)
        await nc.subscribe(f"{self._inbox}*", cb=self._on_reply, pending_msgs_limit=1_000_000)
        for startup in self._startups:
            await startup(nc)
        self._nc = nc
        self.max_payload = nc.max_payload
        self._to_hub(self._connected.set)

    def wait_ready(self, timeout: float) -> bool:
        """Wait (cooperatively) until connected and started; False on timeout."""
        return bool(self._connected.wait(timeout))

    @property
    def ready(self) -> bool:
        """True once connected and every startup ran."""
        return bool(self._connected.is_set())

    @property
    def connected(self) -> bool:
        """True while the NATS connection is up right now (False while it reconnects)."""
        nc = self._nc
        return nc is not None and bool(nc.is_connected)

    # ------------------------------------------------------------------ loop -> hub

    def _to_hub(self, callback: Callable[[], None]) -> None:
        """(loop thread) Run `callback` in the hub soon; it must not block."""
        self._inbound.append(callback)
        self._watcher.send()

    def _drain_inbound(self) -> None:
        inbound = self._inbound
        while inbound:
            inbound.popleft()()

    async def _on_disconnected(self) -> None:
        self._log.warning("nats_disconnected")
        self._to_hub(self._bus_lost)

    async def _on_reconnected(self) -> None:
        self._log.info("nats_reconnected")
        self._to_hub(self._bus_back)

    def _bus_lost(self) -> None:
        """(hub) Fail every waiter now: replies published during an outage are gone."""
        self.down = True
        for queue in list(self._waiters.values()):
            queue.put_nowait(BUS_DOWN)

    def _bus_back(self) -> None:
        self.down = False

    async def _on_reply(self, msg: Msg) -> None:
        queue = self._waiters.get(msg.subject[len(self._inbox):])
        if queue is None:
            return
        headers = msg.headers
        if headers and headers.get("Status") == _STATUS_NO_RESPONDERS and not msg.data:
            item: Any = NO_RESPONDERS
        else:
            item = msg.data
        self._inbound.append(lambda: queue.put_nowait(item))
        self._watcher.send()

    # ------------------------------------------------------------------ hub -> loop

    def _submit(self, subject: str, payload: bytes, reply: str, headers: dict[str, str] | None = None) -> None:
        self._outbound.append((subject, payload, reply, headers))
        if not self._scheduled:
            self._scheduled = True
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._drain_outbound)

    def _drain_outbound(self) -> None:
        self._scheduled = False
        nc = self._nc
        outbound = self._outbound
        batch = []
        while outbound:
            batch.append(outbound.popleft())
        if nc is not None and batch:
            asyncio.ensure_future(self._publish_all(nc, batch))

    async def _publish_all(self, nc: Client, batch: list[tuple[str, bytes, str, dict[str, str] | None]]) -> None:
        for subject, payload, reply, headers in batch:
            try:
                await nc.publish(subject, payload, reply=reply, headers=headers)
            except nats.errors.Error as ex:
                self._log.error("nats_publish_failed", subject=subject, error=type(ex).__name__)

    # ------------------------------------------------------------------ greenlet API

    def request(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> Reply:
        """Publish a request whose replies (any number) arrive on the returned Reply."""
        token = str(next(self._tokens))
        queue: gevent.queue.Queue = gevent.queue.Queue()
        self._waiters[token] = queue
        self._submit(subject, payload, self._inbox + token, headers)
        return Reply(self, token, queue)

    def publish(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> None:
        """Fire and forget (JetStream subjects included: the stream captures it)."""
        self._submit(subject, payload, "", headers)

    @property
    def in_flight(self) -> int:
        """Requests of this process still waiting for frames."""
        return len(self._waiters)

    def cut_all(self) -> None:
        """End every request still waiting (a shutdown's grace is over): each gets SHUTDOWN."""
        for queue in list(self._waiters.values()):
            queue.put_nowait(SHUTDOWN)

    def flush(self, timeout: float) -> None:
        """Wait until NATS has everything published so far (before the process exits)."""
        try:
            self.run(lambda nc: nc.flush(max(1, int(timeout))), timeout)
        except (ConnectionError, TimeoutError, nats.errors.Error) as ex:
            self._log.warning("nats_flush_failed", error=type(ex).__name__)

    def run(self, work: Callable[[Client], Awaitable[T]], timeout: float) -> T:
        """Run `work(nc)` on the loop and wait for its result from a greenlet."""
        loop, nc = self._loop, self._nc
        if loop is None or nc is None or self.down:  # NOTE: fail at once, never wait out a timeout
            raise ConnectionError("the gateway is not connected to NATS")
        result: gevent.event.AsyncResult = gevent.event.AsyncResult()

        def done(future: asyncio.Future[T]) -> None:
            if future.cancelled():
                self._to_hub(lambda: result.set_exception(TimeoutError("cancelled")))
            elif future.exception() is not None:
                error = future.exception()
                self._to_hub(lambda: result.set_exception(error))
            else:
                value = future.result()
                self._to_hub(lambda: result.set(value))

        def schedule() -> None:
            task = asyncio.ensure_future(asyncio.wait_for(work(nc), timeout))
            task.add_done_callback(done)

        loop.call_soon_threadsafe(schedule)
        return result.get(timeout=timeout + 1.0)  # type: ignore[no-any-return]
