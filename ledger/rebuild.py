"""`python -m ledger --rebuild`: rebuild the ledger database from the USAGE stream.

The database is a projection of the stream, so replaying the stream from its first
message through the same pricing and the same `Store.apply` reaches the same rows and
the same totals. Steps:

1. Take the database's writer lock (`ledger.lock`). A running ledger holds it, so the
   rebuild refuses to start: **stop the ledger first** (a ledger started during the
   rebuild waits for the lock). Without this, events the running ledger committed and
   acked after the replay's last read would be missing from the rebuilt file.
2. Refuse when the stream no longer starts at sequence 1 (retention removed old events:
   a rebuild would silently drop their money), unless `--force`.
3. Replay every message up to the stream's last sequence (read at the start) with an
   ephemeral consumer into a fresh file `<database>.rebuild`. Events published later
   stay unacknowledged on the durable consumer and reach the new database when the
   ledger restarts (idempotently, if the replay already had them).
4. Copy the old database to `<database>.before-rebuild`, then replace the database's
   contents with the new file's through SQLite's backup API in one step: one write
   transaction, so a reader (`scripts/billing-report`) sees the old or the new ledger,
   never a mix, and no stale WAL of the old file can be replayed onto the new one (as it
   could after a plain rename).

Prices are those of the config the rebuild runs with: rebuilding after a price change
reprices history. Keep the old prices in the config for that (each row records the unit
prices it was billed at, and `.before-rebuild` keeps the previous file). After a rebuild
the restarted ledger republishes every key's balance.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import msgspec
import nats
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from gateway.contracts import config as configuration
from gateway.contracts.bus import USAGE_STREAM
from gateway.contracts.log import Logger
from ledger.bus import connect, entry_of, replay_subscription
from ledger.lock import WriterLock
from gateway.runtime.pricing import Pricer
from ledger.store import BUSY_TIMEOUT_MS, Store, Summary, database_path

REPLAY_BATCH = 1000
FETCH_TIMEOUT_S = 1.0
MAX_IDLE_FETCHES = 10  # the stream stopped delivering before the target sequence


class RebuildError(Exception):
    """A rebuild that must not go on (shown to the operator)."""


_FILES = ("", "-wal", "-shm")


def _remove_database(path: Path) -> None:
    for suffix in _FILES:
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _move_database(source: Path, target: Path) -> None:
    for suffix in _FILES:
        if source.with_name(source.name + suffix).exists():
            os.replace(source.with_name(source.name + suffix), target.with_name(target.name + suffix))


def copy_database(source: Path, target: Path) -> None:
    """Replace `target`'s contents with `source`'s in one SQLite transaction."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        dst.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        src.backup(dst)  # pages=-1: everything in one step, committed atomically
        dst.execute("PRAGMA wal_checkpoint(PASSIVE)")  # never waits for a reader


def install(new: Path, target: Path) -> Path | None:
    """Put the rebuilt `new` in place of `target`; returns the backup of the old one."""
    backup = None
    if target.exists():
        backup = target.with_name(target.name + ".before-rebuild")
        _remove_database(backup)
        try:
            copy_database(target, backup)
        except sqlite3.DatabaseError:
            # A damaged file (perhaps why we rebuild): keep its bytes aside as they are.
            _remove_database(backup)
            _move_database(target, backup)
    copy_database(new, target)
    _remove_database(new)
    return backup


async def replay(js: JetStreamContext, store: Store, pricer: Pricer, target_seq: int) -> int:
    """Apply every message up to `target_seq` to `store`; returns how many were read."""
    if target_seq == 0:
        return 0
    sub = await replay_subscription(js)
    read, last, idle = 0, 0, 0
    try:
        while last < target_seq:
            try:
                msgs = await sub.fetch(REPLAY_BATCH, timeout=FETCH_TIMEOUT_S)
            except asyncio.TimeoutError:  # nats' own TimeoutError is one too
                idle += 1
                if idle >= MAX_IDLE_FETCHES:
                    raise RebuildError(f"the stream stopped delivering at sequence {last} of {target_seq}") from None
                continue
            idle = 0
            store.apply([entry_of(msg, pricer) for msg in msgs])
            read += len(msgs)
            last = msgs[-1].metadata.sequence.stream
            if msgs[-1].metadata.num_pending == 0:
                break  # nothing left in the stream (the target itself may have been deleted)
    finally:
        await sub.unsubscribe()
    return read


async def rebuild(path: Path, pricer: Pricer, log: Logger, force: bool = False) -> tuple[Summary | None, Summary, int]:
    """Rebuild the database at `path`; returns (old totals, new totals, messages read).

    The caller holds the writer lock.
    """
    nc = await connect(log, wait_s=5.0)
    try:
        js = nc.jetstream()
        try:
            state = (await js.stream_info(USAGE_STREAM)).state
        except NotFoundError:
            raise RebuildError(f"no {USAGE_STREAM} stream on this NATS server: nothing to rebuild from") from None
        if state.messages and state.first_seq > 1 and not force:
            raise RebuildError(f"the {USAGE_STREAM} stream starts at sequence {state.first_seq}: older events were "
                               "removed and a rebuild would lose their money (--force to rebuild anyway)")
        fresh = path.with_name(path.name + ".rebuild")
        _remove_database(fresh)
        store = Store.open(fresh)
        try:
            read = await replay(js, store, pricer, state.last_seq)
            new = store.summary()
        except BaseException:
            store.close()
            _remove_database(fresh)
            raise
        store.close()
    finally:
        await nc.close()
    old = previous_summary(path, log)
    install(fresh, path)
    return old, new, read


def previous_summary(path: Path, log: Logger) -> Summary | None:
    """The totals of the database about to be replaced, if it is readable."""
    if not path.exists():
        return None
    try:
        with closing(Store.open(path)) as previous:
            return previous.summary()
    except sqlite3.DatabaseError as ex:
        log.warning("ledger_previous_unreadable", database=str(path), error=str(ex))
        return None


def rebuild_main(force: bool = False) -> int:
    """Entry point of `python -m ledger --rebuild`; returns the exit status."""
    log = Logger("ledger")
    cfg = configuration.load()
    path = database_path(cfg)
    lock = WriterLock(path)
    if not lock.try_acquire():
        print(f"error: a ledger is running on {path} (its lock {lock.path} is held); stop it, then rebuild",
              file=sys.stderr)
        return 2
    try:
        old, new, read = asyncio.run(rebuild(path, Pricer(cfg.models, log), log, force))
    except RebuildError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1
    except (OSError, nats.errors.Error) as ex:
        print(f"error: cannot reach NATS at {configuration.nats_url()}: {type(ex).__name__}: {ex}", file=sys.stderr)
        return 1
    finally:
        lock.release()
    log.info("ledger_rebuilt", database=str(path), messages=read, new=msgspec.to_builtins(new),
             old=msgspec.to_builtins(old) if old else None)
    print(f"rebuilt {path} from {read} stream messages: {new.usage_rows} usage rows, {new.credit_events} credits, "
          f"cost {new.cost_micro_usd} micro-USD" + (f" (before: {old.usage_rows} rows, cost {old.cost_micro_usd})"
                                                    if old else ""))
    return 0
