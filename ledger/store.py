"""The ledger's SQLite projection of the USAGE stream (sqlite-utils), and its one writer.

Tables:
- `usage`: one row per request id (PRIMARY KEY), with tokens, cost in integer
  micro-dollars, the unit prices used, the billing day (UTC) and the event's `source`.
- `credits`: one row per credit event id (PRIMARY KEY).
- `key_totals`: per key, the running sums of its credits and costs. Only `apply` writes
  it, in the same transaction as the rows it sums, so it always equals
  `SUM(credits) / SUM(usage.cost)`; nobody sets a balance. It exists so that balances
  after each batch cost one row read, not a scan of a key's history.
- `rejected`: messages that could not be billed (see `ledger.entries`).

`apply(batch)` writes a whole batch in ONE transaction and is idempotent:
- a usage row is inserted once per request id; a repeat with the same source is a no-op;
- a `"worker"` event (the real count) REPLACES a `"gateway"` failure record of the same
  request (the gateway publishes one when the worker vanished), never the reverse;
- a credit is inserted once per event id.
So a redelivered batch (the ledger died after the commit, before the acks) changes
nothing, and neither does a worker's retry that outlived JetStream's duplicate window.

The database is in WAL mode, so `scripts/billing-report` reads a consistent snapshot
while the ledger writes, and never sees half a batch. `synchronous=FULL` because the
ledger acks a batch right after its commit: a committed batch must survive a power cut,
or the acked events would be gone from both the stream's pending set and the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import assert_never

import msgspec
import sqlite_utils
from msgspec import Struct

from gateway.contracts.config import Config, data_dir
from ledger.entries import Credit, Entry, PricedUsage, Rejected
from gateway.runtime.pricing import format_price

SCHEMA_VERSION = 3  # 2: cache_write_tokens and price_cache_write_input; 3: deployment
GATEWAY_SOURCE = "gateway"
BUSY_TIMEOUT_MS = 10_000

USAGE_COLUMNS: dict[str, type] = {
    "request_id": str, "key_id": str, "key_name": str, "model": str, "provider": str,
    "upstream_model": str, "op": str, "day": str, "prompt_tokens": int, "cached_tokens": int,
    "cache_write_tokens": int,
    "completion_tokens": int, "total_tokens": int, "estimated": int, "status": str,
    "error_code": str, "stream": int, "source": str, "started_at": float, "finished_at": float,
    "cost_micro_usd": int, "priced": int, "price_input": str, "price_cached_input": str,
    "price_output": str, "price_cache_write_input": str, "stream_seq": int,
    "deployment": str,  # the model's deployment that served it (issue 16); NULL in older rows
}
_USAGE_NAMES = ", ".join(USAGE_COLUMNS)
_USAGE_VALUES = ", ".join(f":{c}" for c in USAGE_COLUMNS)
INSERT_USAGE = f"INSERT INTO usage ({_USAGE_NAMES}) VALUES ({_USAGE_VALUES})"
REPLACE_USAGE = f"INSERT OR REPLACE INTO usage ({_USAGE_NAMES}) VALUES ({_USAGE_VALUES})"
ADD_TOTALS = """
INSERT INTO key_totals (key_id, key_name, credit_micro_usd, spent_micro_usd, credit_events)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT(key_id) DO UPDATE SET
  key_name = CASE WHEN excluded.key_name <> '' THEN excluded.key_name ELSE key_totals.key_name END,
  credit_micro_usd = key_totals.credit_micro_usd + excluded.credit_micro_usd,
  spent_micro_usd = key_totals.spent_micro_usd + excluded.spent_micro_usd,
  credit_events = key_totals.credit_events + excluded.credit_events
"""


class Applied(Struct):
    """What one `apply` changed."""

    inserted: int = 0
    replaced: int = 0
    duplicates: int = 0
    credits: int = 0
    rejected: int = 0
    keys: set[str] = msgspec.field(default_factory=set)  # key ids whose balance changed
    billed: list[PricedUsage] = msgspec.field(default_factory=list)  # usage newly billed (not duplicates)


class Summary(Struct, frozen=True):
    """Whole-database totals (compared before and after a rebuild)."""

    usage_rows: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    cost_micro_usd: int
    credit_events: int
    credit_micro_usd: int
    rejected: int


def database_path(config: Config) -> Path:
    """The configured database file; relative paths are under `GATEWAY_DATA_DIR`."""
    path = Path(config.ledger.database)
    return path if path.is_absolute() else data_dir() / path


def connect(path: Path) -> sqlite_utils.Database:
    """Open (or create) a ledger database in WAL mode with the schema in place."""
    db = sqlite_utils.Database(path)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.enable_wal()
    db.execute("PRAGMA synchronous = FULL")
    create_schema(db)
    return db


def create_schema(db: sqlite_utils.Database) -> None:
    """Create the tables and indexes if missing."""
    usage = db.table("usage")
    usage.create(USAGE_COLUMNS, pk="request_id", not_null=["key_id", "model", "day", "cost_micro_usd"],
                 if_not_exists=True)
    existing = usage.columns_dict
    for name, kind in USAGE_COLUMNS.items():
        if name not in existing:  # a database of an older schema: old rows keep NULL there
            usage.add_column(name, kind)
    db.table("credits").create(
        {"event_id": str, "key_id": str, "key_name": str, "amount_micro_usd": int, "at": float,
         "day": str, "stream_seq": int},
        pk="event_id", not_null=["key_id", "amount_micro_usd", "day"], if_not_exists=True,
    )
    db.table("key_totals").create(
        {"key_id": str, "key_name": str, "credit_micro_usd": int, "spent_micro_usd": int, "credit_events": int},
        pk="key_id", not_null=["credit_micro_usd", "spent_micro_usd", "credit_events"], if_not_exists=True,
    )
    db.table("rejected").create({"stream_seq": int, "subject": str, "reason": str, "data": bytes},
                          pk="stream_seq", if_not_exists=True)
    db.table("usage").create_index(["key_id", "day"], if_not_exists=True)
    db.table("usage").create_index(["day"], if_not_exists=True)
    db.table("credits").create_index(["key_id", "day"], if_not_exists=True)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def usage_row(entry: PricedUsage) -> dict[str, object]:
    """The `usage` row of a priced event."""
    e, prices = entry.event, entry.cost.prices
    return {
        "request_id": e.request_id, "key_id": e.key_id, "key_name": e.key_name, "model": e.model,
        "provider": e.provider, "upstream_model": e.upstream_model, "op": e.op, "day": entry.day,
        "prompt_tokens": e.prompt_tokens, "cached_tokens": e.cached_tokens,
        "cache_write_tokens": e.cache_write_tokens,
        "completion_tokens": e.completion_tokens, "total_tokens": e.total_tokens,
        "estimated": int(e.estimated), "status": e.status, "error_code": e.error_code,
        "stream": int(e.stream), "source": e.source, "started_at": e.started_at,
        "finished_at": e.finished_at, "cost_micro_usd": entry.cost.micro_usd,
        "priced": int(entry.cost.priced),
        "price_input": format_price(prices.input) if prices else None,
        "price_cached_input": format_price(prices.cached_input) if prices else None,
        "price_output": format_price(prices.output) if prices else None,
        "price_cache_write_input": format_price(prices.cache_write_input) if prices else None,
        "stream_seq": entry.seq,
        "deployment": e.deployment,
    }


class Store:
    """The ledger database; `apply` is its only writer."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (or create) the database at `path`."""
        return cls(connect(path))

    def close(self) -> None:
        """Close the connection (the last one to close checkpoints and removes the WAL)."""
        self.db.close()

    def apply(self, batch: Sequence[Entry]) -> Applied:
        """Write `batch` in one transaction (see the module docstring for the rules)."""
        applied = Applied()
        conn = self.db.conn
        # IMMEDIATE: take the write lock up front rather than upgrading mid-batch.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for entry in batch:
                if isinstance(entry, PricedUsage):
                    self._usage(conn, entry, applied)
                elif isinstance(entry, Credit):
                    self._credit(conn, entry, applied)
                elif isinstance(entry, Rejected):
                    conn.execute("INSERT OR IGNORE INTO rejected VALUES (?, ?, ?, ?)",
                                 (entry.seq, entry.subject, entry.reason, entry.data))
                    applied.rejected += 1
                else:
                    assert_never(entry)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return applied

    def _usage(self, conn: sqlite3.Connection, entry: PricedUsage, applied: Applied) -> None:
        e = entry.event
        held = conn.execute("SELECT source, key_id, cost_micro_usd FROM usage WHERE request_id = ?",
                            (e.request_id,)).fetchone()
        if held is None:
            conn.execute(INSERT_USAGE, usage_row(entry))
            applied.inserted += 1
        elif held[0] == GATEWAY_SOURCE and e.source != GATEWAY_SOURCE:
            conn.execute(REPLACE_USAGE, usage_row(entry))
            conn.execute(ADD_TOTALS, (held[1], "", 0, -held[2], 0))
            applied.replaced += 1
            applied.keys.add(held[1])
        else:
            applied.duplicates += 1
            return
        applied.billed.append(entry)
        conn.execute(ADD_TOTALS, (e.key_id, e.key_name, 0, entry.cost.micro_usd, 0))
        applied.keys.add(e.key_id)

    def _credit(self, conn: sqlite3.Connection, entry: Credit, applied: Applied) -> None:
        c = entry.event
        cursor = conn.execute(
            "INSERT OR IGNORE INTO credits VALUES (?, ?, ?, ?, ?, ?, ?)",
            (c.event_id, c.key_id, c.key_name, c.amount_micro_usd, c.at, entry.day, entry.seq),
        )
        if cursor.rowcount != 1:
            applied.duplicates += 1
            return
        conn.execute(ADD_TOTALS, (c.key_id, c.key_name, c.amount_micro_usd, 0, 1))
        applied.credits += 1
        applied.keys.add(c.key_id)

    def summary(self) -> Summary:
        """Totals over the whole database."""
        # NOTE: SUM over INTEGER columns stays an integer (TOTAL would be a float).
        u = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(cached_tokens), 0),"
            " COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cost_micro_usd), 0) FROM usage").fetchone()
        c = self.db.execute("SELECT COUNT(*), COALESCE(SUM(amount_micro_usd), 0) FROM credits").fetchone()
        r = self.db.execute("SELECT COUNT(*) FROM rejected").fetchone()
        return Summary(usage_rows=u[0], prompt_tokens=u[1], cached_tokens=u[2], completion_tokens=u[3],
                       cost_micro_usd=u[4], credit_events=c[0], credit_micro_usd=c[1], rejected=r[0])
