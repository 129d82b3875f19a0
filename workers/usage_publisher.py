"""Publishes UsageEvents to JetStream, retrying until the stream has them.

The job never waits for billing: `record()` queues the event and a background task
publishes what has queued up, concurrently, each with `Nats-Msg-Id` = request id (JetStream drops a duplicate, the ledger
ignores a repeated request id), retrying with backoff while NATS is away. An event
that still cannot be published at shutdown, or that overflows the bounded queue, is
logged whole as `usage_unpublished`, so no billed token disappears without a trace.
"""

from __future__ import annotations

import asyncio

from nats.errors import Error as NatsError
from nats.js.client import JetStreamContext

from gateway.contracts.bus import EVENT_ENCODER, MSG_ID_HEADER, USAGE_METERED_SUBJECT, USAGE_SUBJECT, UsageEvent
from gateway.contracts.log import Logger

MAX_QUEUED = 100_000
MAX_IN_FLIGHT = 256  # events published at once, acks awaited together


class UsagePublisher:
    """A bounded queue of UsageEvents drained into JetStream."""

    def __init__(self, js: JetStreamContext, log: Logger) -> None:
        self._js = js
        self._log = log
        self._queue: asyncio.Queue[UsageEvent] = asyncio.Queue(MAX_QUEUED)
        self._task: asyncio.Task[None] | None = None
        self._in_hand: list[UsageEvent] = []  # taken from the queue, not yet acknowledged

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
            USAGE_METERED_SUBJECT if event.metered else USAGE_SUBJECT,
            EVENT_ENCODER.encode(event),
            headers={MSG_ID_HEADER: event.request_id},
            timeout=5.0,
        )

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_IN_FLIGHT and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._publish_all(batch)
            for _ in batch:
                self._queue.task_done()

    async def _publish_all(self, batch: list[UsageEvent]) -> None:
        """Publish a batch concurrently (PERF: one ack wait per batch, not per event);
        retry what failed, with backoff, until JetStream has all of it."""
        pending = self._in_hand = batch
        delay = 0.1
        while pending:
            results = await asyncio.gather(*(self._publish(e) for e in pending), return_exceptions=True)
            failed = []
            for event, result in zip(pending, results, strict=True):
                if isinstance(result, (NatsError, asyncio.TimeoutError, TimeoutError)):
                    failed.append(event)
                elif isinstance(result, BaseException):
                    raise result
            if failed:
                self._log.warning("usage_publish_retry", count=len(failed), request_id=failed[0].request_id)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            pending = self._in_hand = failed

    async def close(self, grace_s: float = 10.0) -> None:
        """Publish what is queued (up to `grace_s`), then log whatever is left."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), grace_s)
        except (asyncio.TimeoutError, TimeoutError):
            pass
        self._task.cancel()
        for event in self._in_hand:
            self._unpublished(event, "shutdown")
        self._in_hand = []
        while not self._queue.empty():
            self._unpublished(self._queue.get_nowait(), "shutdown")

    def _unpublished(self, event: UsageEvent, reason: str) -> None:
        self._log.error(
            "usage_unpublished",
            request_id=event.request_id,
            reason=reason,
            usage_event=EVENT_ENCODER.encode(event).decode(),
        )
