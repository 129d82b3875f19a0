"""Ledger process: a durable pull consumer on the USAGE stream.

For now it records each event as one structured log line and acknowledges it; the
SQLite projection, balances and reports build on this loop (fetch -> store -> ack
after commit). Acks come only after an event was handled, so a crash replays it.
"""

from __future__ import annotations

import asyncio
import signal

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from gateway.contracts import config as configuration
from gateway.contracts.bus import (
    CREDIT_DECODER,
    CREDIT_SUBJECT,
    USAGE_DECODER,
    USAGE_STREAM,
    USAGE_SUBJECT,
    USAGE_SUBJECTS,
)
from gateway.contracts.log import Logger

DURABLE = "ledger"
BATCH = 256


async def connect(url: str, log: Logger) -> Client:
    """Connect to NATS, waiting for it to come up."""
    while True:
        try:
            return await nats.connect(
                url, name="ledger", max_reconnect_attempts=-1, connect_timeout=2,
                error_cb=log.nats_error_callback(),
            )
        except (OSError, nats.errors.Error, asyncio.TimeoutError) as ex:
            log.warning("nats_connect_retry", url=url, error=type(ex).__name__)
            await asyncio.sleep(0.5)


def handle(msg: Msg, log: Logger) -> None:
    """Record one event (a log line until the SQLite store lands)."""
    try:
        if msg.subject == USAGE_SUBJECT:
            event = USAGE_DECODER.decode(msg.data)
            log.info("usage", **msgspec.structs.asdict(event))
        elif msg.subject == CREDIT_SUBJECT:
            credit = CREDIT_DECODER.decode(msg.data)
            log.info("credit", **msgspec.structs.asdict(credit))
    except msgspec.DecodeError as ex:
        log.error("bad_event", subject=msg.subject, error=str(ex))


async def consume(nc: Client, log: Logger, stop: asyncio.Event) -> None:
    """Fetch, handle, ack, until `stop` is set."""
    js = nc.jetstream()
    try:
        await js.add_stream(StreamConfig(name=USAGE_STREAM, subjects=USAGE_SUBJECTS, storage=StorageType.FILE, duplicate_window=600))
    except BadRequestError:
        pass
    sub = await js.pull_subscribe(
        "usage.>", durable=DURABLE, stream=USAGE_STREAM,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=10_000),
    )
    log.info("ledger_ready")
    while not stop.is_set():
        try:
            msgs = await sub.fetch(BATCH, timeout=1.0)
        except nats.errors.TimeoutError:
            continue  # idle, not an error
        for msg in msgs:
            handle(msg, log)
            await msg.ack()


async def main() -> None:
    """Run until SIGTERM/SIGINT."""
    log = Logger("ledger")
    configuration.load()  # refuse to start on a broken config, like every process
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    nc = await connect(configuration.nats_url(), log)
    try:
        await consume(nc, log, stop)
    finally:
        try:
            await nc.drain()
        except (nats.errors.Error, asyncio.TimeoutError) as ex:
            log.warning("nats_drain_failed", error=type(ex).__name__)


def run() -> None:
    """Console entry point."""
    asyncio.run(main())


if __name__ == "__main__":
    run()
