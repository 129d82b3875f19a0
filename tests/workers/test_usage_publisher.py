"""UsagePublisher: batches publish concurrently, failures are retried until JetStream has them."""

from __future__ import annotations

import asyncio
import io

from nats.errors import TimeoutError as NatsTimeoutError

from gateway.contracts.bus import USAGE_DECODER, USAGE_METERED_SUBJECT, USAGE_SUBJECT, UsageEvent
from gateway.contracts.log import Logger
from workers.usage_publisher import UsagePublisher


class FlakyJetStream:
    """Fails the first `failures` publishes; records the rest and the peak concurrency."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.stored: list[tuple[str, str]] = []
        self.subjects: dict[str, str] = {}
        self.in_flight = 0
        self.peak = 0

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str], timeout: float) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.01)  # the ack's round trip
            if self.failures > 0:
                self.failures -= 1
                raise NatsTimeoutError
            self.stored.append((headers["Nats-Msg-Id"], USAGE_DECODER.decode(payload).request_id))
            self.subjects[headers["Nats-Msg-Id"]] = subject
        finally:
            self.in_flight -= 1


def event(i: int) -> UsageEvent:
    return UsageEvent(request_id=f"req_{i}", key_id="k", model="m", provider="p", prompt_tokens=i)


def test_every_event_reaches_the_stream_once_despite_failures() -> None:
    async def main() -> FlakyJetStream:
        js = FlakyJetStream(failures=3)
        publisher = UsagePublisher(js, Logger("t", io.StringIO()))  # type: ignore[arg-type]
        publisher.start()
        for i in range(50):
            publisher.record(event(i))
        await publisher.close(grace_s=10)
        return js

    js = asyncio.run(main())
    assert sorted(js.stored) == sorted((f"req_{i}", f"req_{i}") for i in range(50))
    assert js.peak > 1  # acks awaited together, not one by one


def test_what_cannot_be_published_at_shutdown_is_logged_whole() -> None:
    async def main() -> str:
        log = io.StringIO()
        js = FlakyJetStream(failures=10**6)
        publisher = UsagePublisher(js, Logger("t", log))  # type: ignore[arg-type]
        publisher.start()
        publisher.record(event(7))
        await publisher.close(grace_s=0.3)
        return log.getvalue()

    out = asyncio.run(main())
    assert '"event":"usage_unpublished"' in out and "req_7" in out and '\\"prompt_tokens\\":7' in out


def test_a_metered_keys_usage_goes_where_gateways_follow_it() -> None:
    async def main() -> FlakyJetStream:
        js = FlakyJetStream(failures=0)
        publisher = UsagePublisher(js, Logger("t", io.StringIO()))  # type: ignore[arg-type]
        publisher.start()
        publisher.record(event(1))
        metered = event(2)
        metered.metered = True
        publisher.record(metered)
        await publisher.close(grace_s=10)
        return js

    js = asyncio.run(main())
    assert js.subjects == {"req_1": USAGE_SUBJECT, "req_2": USAGE_METERED_SUBJECT}
