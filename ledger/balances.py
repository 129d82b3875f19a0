"""Balances: credits - costs per key, derived from the ledger, published to NATS KV.

A balance is never edited: it is read from `key_totals`, which `Store.apply` keeps equal
to the sums of the key's credit and usage rows. A key with no credit event is
unmetered (the report shows a null balance); its record is published all the same
(balance = -spent) and gateways ignore it unless the key's `KeyRecord.metered` is set.

A key's balance counts all of its spend, including what it spent before its first
credit: crediting a key that was used unmetered starts it at credit - spend so far.

After each committed batch the ledger publishes the `BalanceRecord` of every key the
batch changed to the KV bucket `balances`, under the key id, stamped with `through_seq`:
the consumer's ack floor read after the batch's acks, so every USAGE message up to it is
in the record's figures (gateways count the key's later events themselves; a floor that
could not be read keeps the last one, which only makes gateways count more). A key whose
record went out with a floor below one of its own applied events (the floor waits for an
earlier batch to be redelivered) is published again once the floor passes that event,
so no gateway goes on counting it twice. A failed publish keeps the
keys pending and is retried after the next batch (or idle fetch), so a NATS hiccup
delays a balance but never loses it; at start-up every key is published once, which
also repopulates the bucket after a rebuild.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import nats
import sqlite_utils
from msgspec import Struct

from gateway.contracts.bus import EVENT_ENCODER, BalanceRecord
from gateway.contracts.log import Logger

# NATS KV keys: anything else would be refused by the server (or split on dots by a watcher).
_VALID_KV_KEY = re.compile(r"^[-/_=\.a-zA-Z0-9]+$")


class KeyBalance(Struct, frozen=True):
    """One key's derived totals, in micro-dollars."""

    key_id: str
    key_name: str
    credit_micro_usd: int
    spent_micro_usd: int
    credit_events: int

    @property
    def metered(self) -> bool:
        """Whether the key was ever credited (else its balance is not enforced)."""
        return self.credit_events > 0

    @property
    def balance_micro_usd(self) -> int:
        """Credits minus costs."""
        return self.credit_micro_usd - self.spent_micro_usd


def read_balances(db: sqlite_utils.Database, key_ids: Iterable[str] | None = None) -> list[KeyBalance]:
    """The balances of `key_ids` (every key when None), ordered by key id."""
    sql = "SELECT key_id, COALESCE(key_name, ''), credit_micro_usd, spent_micro_usd, credit_events FROM key_totals"
    params: list[str] = []
    if key_ids is not None:
        params = sorted(set(key_ids))
        if not params:
            return []
        sql += f" WHERE key_id IN ({', '.join('?' for _ in params)})"
    rows = db.execute(sql + " ORDER BY key_id", params).fetchall()
    return [KeyBalance(*row) for row in rows]


def to_record(balance: KeyBalance, now: float, through_seq: int = 0) -> BalanceRecord:
    """The bus record of a balance."""
    return BalanceRecord(
        key_id=balance.key_id, key_name=balance.key_name, credit_micro_usd=balance.credit_micro_usd,
        spent_micro_usd=balance.spent_micro_usd, balance_micro_usd=balance.balance_micro_usd, updated_at=now,
        through_seq=through_seq,
    )


class KeyValuePut(Protocol):
    """The part of a NATS KeyValue the publisher uses."""

    async def put(self, key: str, value: bytes) -> int: ...


class BalancePublisher:
    """Publishes changed keys' balances; keys stay pending until a publish succeeds."""

    def __init__(self, kv: KeyValuePut, log: Logger, clock: Callable[[], float] = time.time) -> None:
        self._kv = kv
        self._log = log
        self._clock = clock
        self.pending: set[str] = set()
        self.through_seq = 0

        self._behind: dict[str, int] = {}  # key id -> its newest applied event past the floor

    def through(self, floor: int | None) -> None:
        """The ack floor (read after the last acks); None (unknown) keeps the last one."""
        if floor is not None and floor > self.through_seq:
            self.through_seq = floor
        caught_up = [key_id for key_id, seq in self._behind.items() if seq <= self.through_seq]
        for key_id in caught_up:
            del self._behind[key_id]
        self.pending.update(caught_up)

    def applied_up_to(self, events: Iterable[tuple[str, int]]) -> None:
        """(key id, stream seq) of the events just applied: those past the floor are remembered."""
        for key_id, seq in events:
            if seq > self.through_seq and seq > self._behind.get(key_id, 0):
                self._behind[key_id] = seq

    def mark(self, key_ids: Iterable[str]) -> None:
        """Remember keys whose balance changed in a committed batch."""
        self.pending.update(key_ids)

    async def flush(self, db: sqlite_utils.Database) -> int:
        """Publish every pending key's current balance; returns how many were published."""
        if not self.pending:
            return 0
        published = 0
        now = self._clock()
        for balance in read_balances(db, self.pending):
            if not _VALID_KV_KEY.match(balance.key_id):
                self._log.warning("balance_key_invalid", key_id=balance.key_id)
                self.pending.discard(balance.key_id)
                continue
            try:
                await self._kv.put(balance.key_id, EVENT_ENCODER.encode(to_record(balance, now, self.through_seq)))
            except (nats.errors.Error, TimeoutError) as ex:
                # Keep the rest pending: the next flush retries with fresh numbers.
                self._log.warning("balance_publish_failed", key_id=balance.key_id, error=type(ex).__name__,
                                  pending=len(self.pending))
                return published
            self.pending.discard(balance.key_id)
            published += 1
        self.pending.clear()  # ids with no totals row (nothing to publish)
        return published
