"""Publishes UsageEvents to JetStream, retrying until the stream has them.

The job never waits for billing: `record()` queues the event and a background task
publishes it with `Nats-Msg-Id` = request id (JetStream drops a duplicate, the ledger
ignores a repeated request id), retrying with backoff while NATS is away. An event
that still cannot be published at shutdown, or that overflows the bounded queue, is
logged whole as `usage_unpublished`, so no billed token disappears without a trace.
"""

from __future__ import annotations

import asyncio

from nats.errors import Error as NatsError
from nats.js.client import JetStreamContext

from gateway.contracts.bus import EVENT_ENCODER, MSG_ID_HEADER, USAGE_SUBJECT, UsageEvent
from gateway.contracts.log import Logger

MAX_QUEUED = 100_000


class UsagePublisher:
    """A bounded queue of UsageEvents drained into JetStream."""

    def __init__(self, js: JetStreamContext, log: Logger) -> None:
        self._js = js
        self._log = log
        self._queue: asyncio.Queue[UsageEvent] = asyncio.Queue(MAX_QUEUED)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the background publisher."""
        self._task = asyncio.create_task(self._run())

    def record(self, event: UsageEvent) -> None:
        """Queue one event (never blocks the job)."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._unpublished(event, "queue_full")

    async def _publish(self, event: UsageEvent) -> None:
        await self._js.publish(
            USAGE_SUBJECT,
            EVENT_ENCODER.encode(event),
            headers={MSG_ID_HEADER: event.request_id},
            timeout=5.0,
        )

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            delay = 0.1
            while True:
                try:
                    await self._publish(event)
                    break
                except (NatsError, asyncio.TimeoutError, TimeoutError) as ex:
                    self._log.warning(
                        "usage_publish_retry", request_id=event.request_id, error=type(ex).__name__
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            self._queue.task_done()

    async def close(self, grace_s: float = 10.0) -> None:
        """Publish what is queued (up to `grace_s`), then log whatever is left."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), grace_s)
        except (asyncio.TimeoutError, TimeoutError):
            pass
        self._task.cancel()
        while not self._queue.empty():
            self._unpublished(self._queue.get_nowait(), "shutdown")

    def _unpublished(self, event: UsageEvent, reason: str) -> None:
        self._log.error(
            "usage_unpublished",
            request_id=event.request_id,
            reason=reason,
            usage_event=EVENT_ENCODER.encode(event).decode(),
        )
