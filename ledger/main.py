"""Ledger process: the single writer of money.

A durable JetStream pull consumer ("ledger") on the USAGE stream, in a loop:
fetch up to `[ledger] batch_size` messages -> price them -> `Store.apply` (one SQLite
transaction) -> commit -> ack every message of the batch -> read the consumer's ack floor
-> publish the changed keys' balances, stamped with that floor (`through_seq`: gateways
count the events after it themselves), to the KV bucket `balances` -> one JSON log line (counts and key ids, never
prompt contents). A crash anywhere before the acks only makes JetStream redeliver the
batch after `[ledger] ack_wait_s`, and the store's idempotency makes that harmless: no
event lost, none counted twice. A backlog (ledger down) waits in the stream, not here.

SIGTERM/SIGINT finish the batch in hand, then drain. SIGHUP reloads the config's prices
(an invalid config is logged and the old prices are kept).

`python -m ledger --rebuild` rebuilds the database from the stream (see `ledger.rebuild`).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sqlite3
import sys
import time
from functools import partial
from collections.abc import Awaitable, Callable

import nats
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from gateway.runtime import natsbus
from gateway.contracts import config as configuration
from gateway.contracts.config import Config
from gateway.contracts.log import Logger
from gateway.contracts.bus import ProcessStatus
from gateway.runtime.metrics import LedgerMetrics, serve as serve_metrics
from gateway.runtime.status import Identity, answer_status
from ledger.entries import utc_day
from ledger.report import spend_on
from ledger.balances import BalancePublisher, KeyValuePut, read_balances
from ledger.bus import connect, durable_subscription, entry_of
from ledger.entries import Credit, PricedUsage
from ledger.lock import WriterLock
from gateway.runtime.pricing import Pricer
from ledger.rebuild import rebuild_main
from ledger.store import Applied, Store, database_path

FETCH_TIMEOUT_S = 1.0
COALESCE_S = 0.05
LOCK_RETRY_S = 1.0
STORE_RETRY_S = 1.0
SETUP_RETRY_S = 0.5
LAG_EVERY_S = 1.0  # how often the consumer's pending count is asked for (ledger lag)
METRICS_PORT_ENV = "LEDGER_METRICS_PORT"


class Ledger:
    """One batch at a time: store, ack, publish balances."""

    def __init__(self, store: Store, pricer: Pricer, balances: BalancePublisher, log: Logger,
                 metrics: LedgerMetrics | None = None,
                 floor: Callable[[], Awaitable[int | None]] | None = None) -> None:
        self.store = store
        self.pricer = pricer
        self.balances = balances
        self.log = log
        self.metrics = metrics or LedgerMetrics()
        self.pending: int | None = None  # the consumer's undelivered events, asked about every second
        self.committed_at: float | None = None
        self._floor = floor

    async def handle(self, msgs: list[Msg]) -> bool:
        """Apply one fetched batch; False (nothing acked) when the database refused it."""
        entries = [entry_of(msg, self.pricer) for msg in msgs]
        try:
            applied = self.store.apply(entries)
        except sqlite3.Error as ex:
            # Unacked, so JetStream redelivers the batch after ack_wait.
            self.log.error("ledger_store_failed", count=len(msgs), error=f"{type(ex).__name__}: {ex}")
            return False
        self._observe(applied)
        try:
            for msg in msgs[:-1]:
                await msg.ack()
            # The server handles one consumer's acks in order: once the last is confirmed,
            # the ack floor read next covers the whole batch. (A fetch may return nothing.)
            if msgs:
                await (msgs[-1].ack_sync() if self._floor is not None else msgs[-1].ack())
        except (nats.errors.Error, asyncio.TimeoutError) as ex:
            # NOTE: the batch is committed; an unacked rest is redelivered and found duplicate.
            self.log.warning("ledger_ack_failed", count=len(msgs), error=type(ex).__name__)
        if self._floor is not None:
            self.balances.through(await self._floor())
        self.balances.applied_up_to(
            (e.event.key_id, e.seq) for e in entries if isinstance(e, (PricedUsage, Credit)))
        self.balances.mark(applied.keys)
        await self.balances.flush(self.store.db)
        self.log.info("ledger_batch", count=len(msgs), inserted=applied.inserted, replaced=applied.replaced,
                      duplicates=applied.duplicates, credits=applied.credits, rejected=applied.rejected,
                      keys=sorted(applied.keys))
        return True

    def _observe(self, applied: Applied) -> None:
        """Metrics of a committed batch, and one `billed` line per request newly billed."""
        m = self.metrics
        self.committed_at = time.time()
        m.committed(self.committed_at)
        for outcome in ("inserted", "replaced", "duplicates", "credits", "rejected"):
            count = getattr(applied, outcome)
            if count:
                m.events.labels(outcome).inc(count)
        for entry in applied.billed:
            e = entry.event
            keyed = [e.key_name] if m.key_names else []
            label = self.pricer.entry_id(e.model)  # a wildcard entry's ids under its pattern
            m.tokens.labels(label, "input", *keyed).inc(e.prompt_tokens)
            m.tokens.labels(label, "output", *keyed).inc(e.completion_tokens)
            m.tokens.labels(label, "cached", *keyed).inc(e.cached_tokens)
            m.cost.labels(label, *keyed).inc(entry.cost.micro_usd / 1_000_000)
            self.log.info("billed", request_id=e.request_id, key_id=e.key_id, model=e.model, provider=e.provider,
                          status=e.status, prompt_tokens=e.prompt_tokens, completion_tokens=e.completion_tokens,
                          cached_tokens=e.cached_tokens, estimated=e.estimated,
                          cost_usd=f"{entry.cost.micro_usd / 1_000_000:.6f}")

    def reload_prices(self) -> None:
        """Reload the config's prices (SIGHUP)."""
        try:
            cfg = configuration.load()
        except configuration.ConfigError as ex:
            self.log.error("prices_reload_failed", error=str(ex))
            return
        self.pricer = Pricer(cfg.models, self.log)
        self.log.info("prices_reloaded", models=len(cfg.models))


async def consume(ledger: Ledger, sub: JetStreamContext.PullSubscription, batch_size: int,
                  stop: asyncio.Event) -> None:
    """Fetch and handle batches until `stop` is set (the batch in hand is finished)."""
    lag_at = 0.0
    while not stop.is_set():
        if time.monotonic() - lag_at >= LAG_EVERY_S:
            lag_at = time.monotonic()
            await _measure_lag(ledger, sub)
        try:
            msgs = await sub.fetch(batch_size, timeout=FETCH_TIMEOUT_S)
        except asyncio.TimeoutError:  # nats' own TimeoutError is one too
            await ledger.balances.flush(ledger.store.db)  # idle: retry balances a hiccup left pending
            continue
        except nats.errors.Error as ex:
            ledger.log.warning("ledger_fetch_failed", error=type(ex).__name__)
            await asyncio.sleep(FETCH_TIMEOUT_S)
            continue
        if not await ledger.handle(msgs):
            await asyncio.sleep(STORE_RETRY_S)
        elif len(msgs) < batch_size:
            # PERF: a part-filled batch means events trickle in; let a few gather before the
            # next transaction (one fsync per batch, not per request) at 50 ms of billing lag.
            await asyncio.sleep(COALESCE_S)


def ledger_status(identity: Identity, ledger: Ledger) -> ProcessStatus:
    """The ledger's answer to a status request: lag, last commit, today's spend per key."""
    day = utc_day(time.time())
    return identity.status(pending_events=ledger.pending, last_commit_at=ledger.committed_at, day=day,
                           spend_today=spend_on(ledger.store.db, day))


async def _measure_lag(ledger: Ledger, sub: JetStreamContext.PullSubscription) -> None:
    """Events in the stream the consumer has not delivered yet (the ledger's lag)."""
    try:
        info = await sub.consumer_info()
    except (nats.errors.Error, asyncio.TimeoutError) as ex:
        ledger.log.warning("ledger_lag_unknown", error=type(ex).__name__)
        return
    ledger.pending = info.num_pending or 0
    ledger.metrics.pending.set(ledger.pending)


async def acquire(lock: WriterLock, log: Logger, stop: asyncio.Event) -> bool:
    """Wait for the database's writer lock (held by a rebuild or another ledger)."""
    waiting = False
    while not lock.try_acquire():
        if not waiting:
            log.warning("ledger_waiting_for_lock", lock=str(lock.path))
            waiting = True
        try:
            await asyncio.wait_for(stop.wait(), LOCK_RETRY_S)
            return False
        except asyncio.TimeoutError:
            pass
    return True


async def attach(js: JetStreamContext, cfg: Config, log: Logger,
                 stop: asyncio.Event) -> tuple[JetStreamContext.PullSubscription, KeyValuePut] | None:
    """The stream, the durable consumer and the balances bucket, retried while JetStream
    starts up (under scripts/run, NATS and the ledger start together); None if stopped first."""
    while not stop.is_set():
        try:
            await natsbus.ensure_usage_stream(js)
            sub = await durable_subscription(js, cfg.ledger, log)
            return sub, await natsbus.balances_bucket(js)
        except (nats.errors.Error, asyncio.TimeoutError) as ex:
            log.warning("ledger_attach_retry", error=f"{type(ex).__name__}: {ex}")
            await asyncio.sleep(SETUP_RETRY_S)
    return None


async def serve(cfg: Config, store: Store, log: Logger, stop: asyncio.Event, reload: asyncio.Event) -> None:
    """Connect, publish every balance once, then consume until `stop`."""
    nc = await connect(log)
    try:
        attached = await attach(nc.jetstream(), cfg, log, stop)
        if attached is None:
            return
        sub, kv = attached
        publisher = BalancePublisher(kv, log)

        async def floor() -> int | None:
            return await ack_floor(sub, log)

        publisher.through(await floor())
        publisher.mark(b.key_id for b in read_balances(store.db))
        await publisher.flush(store.db)
        metrics = LedgerMetrics(key_names=cfg.metrics.key_names)
        serve_metrics(METRICS_PORT_ENV, metrics.registry, log)
        ledger = Ledger(store, Pricer(cfg.models, log), publisher, log, metrics, floor)
        await answer_status(nc, "ledger", partial(ledger_status, Identity("ledger"), ledger), log)
        log.info("ledger_ready", database=str(database_path(cfg)), batch_size=cfg.ledger.batch_size,
                 ack_wait_s=cfg.ledger.ack_wait_s)
        reloader = asyncio.create_task(_reload_on(reload, ledger))
        try:
            await consume(ledger, sub, cfg.ledger.batch_size, stop)
            await publisher.flush(store.db)
        finally:
            reloader.cancel()
            # NOTE: drain() would wait forever on status messages (expired pulls) left in the
            # pull inbox; anything there is unacked, so JetStream redelivers it anyway.
            try:
                await sub.unsubscribe()
            except nats.errors.Error as ex:
                log.warning("ledger_unsubscribe_failed", error=type(ex).__name__)
    finally:
        try:
            await nc.drain()
        except (nats.errors.Error, asyncio.TimeoutError) as ex:
            log.warning("nats_drain_failed", error=type(ex).__name__)


async def ack_floor(sub: JetStreamContext.PullSubscription, log: Logger) -> int | None:
    """The stream sequence up to which every message is acked (so applied); None if unknown."""
    try:
        info = await sub.consumer_info()
    except (nats.errors.Error, asyncio.TimeoutError) as ex:
        log.warning("ledger_floor_unknown", error=type(ex).__name__)
        return None
    return int(info.ack_floor.stream_seq) if info.ack_floor and info.ack_floor.stream_seq else 0


async def _reload_on(reload: asyncio.Event, ledger: Ledger) -> None:
    while True:
        await reload.wait()
        reload.clear()
        ledger.reload_prices()


async def main() -> None:
    """Run until SIGTERM/SIGINT."""
    log = Logger("ledger")
    cfg = configuration.load()  # refuse to start on a broken config, like every process
    stop, reload = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    lock = WriterLock(database_path(cfg))
    if not await acquire(lock, log, stop):
        return
    try:
        store = Store.open(database_path(cfg))
        try:
            await serve(cfg, store, log, stop, reload)
        finally:
            store.close()
    finally:
        lock.release()
    log.info("ledger_stopped")


def run() -> None:
    """Console entry point of the ledger process."""
    try:
        asyncio.run(main())
    except configuration.ConfigError as ex:  # one line naming the file and line, not a traceback
        print(f"ledger: {ex}", file=sys.stderr)
        raise SystemExit(2) from None


def cli(argv: list[str] | None = None) -> int:
    """`python -m ledger [--rebuild [--force]]`."""
    parser = argparse.ArgumentParser(prog="python -m ledger", description="The ledger process.")
    parser.add_argument("--rebuild", action="store_true",
                        help="rebuild the database from the USAGE stream (stop the ledger first), then exit")
    parser.add_argument("--force", action="store_true",
                        help="with --rebuild: rebuild even if the stream no longer holds its first events")
    args = parser.parse_args(argv)
    if args.rebuild:
        return rebuild_main(force=args.force)
    if args.force:
        parser.error("--force only goes with --rebuild")
    run()
    return 0


if __name__ == "__main__":
    sys.exit(cli())
