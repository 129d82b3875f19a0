"""The store: one transaction per batch, idempotent by request id / event id, WAL."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.contracts.config import Config, LedgerSettings
from ledger.entries import Entry, PricedUsage, Rejected
from gateway.runtime.pricing import Cost
from ledger.store import Store, database_path
from tests.ledger.conftest import credit, priced, usage


def rows(store: Store) -> list[dict[str, object]]:
    return list(store.db["usage"].rows_where(order_by="request_id"))


def totals(store: Store) -> dict[str, tuple[int, int, int]]:
    return {r["key_id"]: (r["credit_micro_usd"], r["spent_micro_usd"], r["credit_events"])
            for r in store.db["key_totals"].rows}


def test_schema_is_wal_with_unique_ids_and_a_key_day_index(store: Store) -> None:
    assert store.db.journal_mode == "wal"
    assert store.db.table("usage").pks == ["request_id"]
    assert store.db.table("credits").pks == ["event_id"]
    assert [["key_id", "day"]] == [i.columns for i in store.db.table("usage").indexes if i.columns[0] == "key_id"]
    assert any(i.columns == ["key_id", "day"] for i in store.db.table("credits").indexes)
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_reopening_keeps_the_schema_and_the_rows(tmp_path: Path) -> None:
    first = Store.open(tmp_path / "l.sqlite3")
    first.apply([priced(usage("r1"))])
    first.close()
    again = Store.open(tmp_path / "l.sqlite3")
    assert [r["request_id"] for r in rows(again)] == ["r1"]
    again.close()


def test_usage_row_holds_tokens_cost_day_and_unit_prices(store: Store) -> None:
    applied = store.apply([priced(usage("r1", status="cancelled", stream=True, estimated=True), seq=42)])
    assert (applied.inserted, applied.keys) == (1, {"key_a"})
    (row,) = rows(store)
    assert row["key_id"] == "key_a" and row["key_name"] == "alice" and row["model"] == "gpt-a"
    assert (row["prompt_tokens"], row["cached_tokens"], row["completion_tokens"], row["total_tokens"]) == (11, 3, 4, 15)
    assert row["cost_micro_usd"] == 64 and row["priced"] == 1
    assert (row["price_input"], row["price_cached_input"], row["price_output"]) == ("2.5", "1.25", "10")
    assert row["day"] == "2026-03-04" and row["status"] == "cancelled" and row["stream"] == 1
    assert row["estimated"] == 1 and row["source"] == "worker" and row["stream_seq"] == 42


def test_the_same_event_twice_is_one_row(store: Store) -> None:
    event = usage("r1")
    store.apply([priced(event)])
    again = store.apply([priced(event)])  # a redelivered batch
    assert (again.inserted, again.duplicates, again.keys) == (0, 1, set())
    both = store.apply([priced(usage("r2")), priced(usage("r2"))])  # twice in one batch
    assert (both.inserted, both.duplicates) == (1, 1)
    assert [r["request_id"] for r in rows(store)] == ["r1", "r2"]
    assert totals(store) == {"key_a": (0, 128, 0)}


def test_a_worker_event_replaces_the_gateway_failure_record(store: Store) -> None:
    failure = usage("r1", source="gateway", status="error", error_code="worker_lost", prompt_tokens=0,
                    cached_tokens=0, completion_tokens=0, total_tokens=0)
    store.apply([priced(failure)])
    assert rows(store)[0]["source"] == "gateway" and totals(store)["key_a"] == (0, 0, 0)
    applied = store.apply([priced(usage("r1"))])
    assert (applied.replaced, applied.inserted, applied.keys) == (1, 0, {"key_a"})
    (row,) = rows(store)
    assert row["source"] == "worker" and row["status"] == "ok" and row["completion_tokens"] == 4
    assert totals(store)["key_a"] == (0, 64, 0)


def test_a_gateway_record_with_cost_is_replaced_and_its_cost_taken_back(store: Store) -> None:
    store.apply([priced(usage("r1", source="gateway", status="error"), micro=500)])
    store.apply([priced(usage("r1"), micro=64)])
    assert totals(store)["key_a"] == (0, 64, 0)


def test_a_gateway_record_never_replaces_the_worker_event(store: Store) -> None:
    store.apply([priced(usage("r1"))])
    late = store.apply([priced(usage("r1", source="gateway", status="error", completion_tokens=0))])
    assert (late.duplicates, late.replaced) == (1, 0)
    (row,) = rows(store)
    assert row["source"] == "worker" and row["completion_tokens"] == 4
    assert totals(store)["key_a"] == (0, 64, 0)


def test_gateway_then_worker_in_one_batch_keeps_the_worker_event(store: Store) -> None:
    store.apply([priced(usage("r1", source="gateway", status="error"), micro=1), priced(usage("r1"), micro=64),
                 priced(usage("r1", source="gateway", status="error"), micro=1), priced(usage("r1"), micro=64)])
    assert [r["source"] for r in rows(store)] == ["worker"]
    assert totals(store)["key_a"] == (0, 64, 0)


def test_a_credit_event_twice_counts_once(store: Store) -> None:
    first = store.apply([credit("c1", micro=10_000)])
    again = store.apply([credit("c1", micro=10_000), credit("c2", micro=5)])
    assert (first.credits, again.credits, again.duplicates) == (1, 1, 1)
    assert store.db["credits"].count == 2
    assert totals(store)["key_a"] == (10_005, 0, 2)


def test_a_batch_is_one_transaction(store: Store) -> None:
    bad = usage("r2", model=None)  # NOT NULL fails mid-batch
    with pytest.raises(sqlite3.IntegrityError):
        store.apply([priced(usage("r1")), credit("c1"), priced(bad, micro=1)])
    assert store.db["usage"].count == 0 and store.db["credits"].count == 0
    assert totals(store) == {}
    assert store.apply([priced(usage("r1"))]).inserted == 1  # the connection is usable again


def test_a_reader_never_sees_half_a_batch(store: Store, tmp_path: Path) -> None:
    reader = sqlite3.connect(tmp_path / "ledger.sqlite3")
    seen: list[int] = []

    class Watched(list[Entry]):
        def __iter__(self) -> Iterator[Entry]:
            for entry in super().__iter__():
                seen.append(reader.execute("SELECT COUNT(*) FROM usage").fetchone()[0])
                yield entry

    store.apply(Watched([priced(usage(f"r{i}")) for i in range(5)]))
    assert seen == [0, 0, 0, 0, 0]  # the batch is invisible until its commit
    assert reader.execute("SELECT COUNT(*) FROM usage").fetchone()[0] == 5
    reader.close()


def test_rejected_messages_are_kept_once(store: Store) -> None:
    bad = Rejected(seq=9, subject="usage.request", reason="undecodable", data=b"{x")
    store.apply([bad])
    store.apply([bad])
    assert list(store.db["rejected"].rows) == [{"stream_seq": 9, "subject": "usage.request",
                                               "reason": "undecodable", "data": b"{x"}]


def test_totals_always_equal_the_sums_of_the_rows(store: Store) -> None:
    rng = random.Random(5)
    for _ in range(40):
        batch: list[Entry] = []
        for _ in range(rng.randint(1, 8)):
            key = rng.choice(["key_a", "key_b", "key_c"])
            if rng.random() < 0.2:
                batch.append(credit(f"c{rng.randint(0, 30)}", key_id=key, micro=rng.randint(1, 10**6)))
            else:
                source = "gateway" if rng.random() < 0.3 else "worker"
                batch.append(priced(usage(f"r{rng.randint(0, 60)}", key_id=key, source=source),
                                    micro=rng.randint(0, 5000)))
        store.apply(batch)
    spent = dict(store.db.execute("SELECT key_id, SUM(cost_micro_usd) FROM usage GROUP BY key_id").fetchall())
    credited = dict(store.db.execute("SELECT key_id, SUM(amount_micro_usd) FROM credits GROUP BY key_id").fetchall())
    for key, (credit_sum, spent_sum, events) in totals(store).items():
        assert spent_sum == spent.get(key, 0)
        assert credit_sum == credited.get(key, 0)
        assert events == store.db["credits"].count_where("key_id = ?", [key])


def test_summary_counts_rows_tokens_cost_and_credits(store: Store) -> None:
    store.apply([priced(usage("r1")), priced(usage("r2", key_id="key_b")), credit("c1", micro=7),
                 Rejected(seq=1, subject="x", reason="y", data=b"")])
    s = store.summary()
    assert (s.usage_rows, s.prompt_tokens, s.cached_tokens, s.completion_tokens) == (2, 22, 6, 8)
    assert (s.cost_micro_usd, s.credit_events, s.credit_micro_usd, s.rejected) == (128, 1, 7, 1)
    assert isinstance(s.cost_micro_usd, int)


def test_database_path_is_under_the_data_dir_unless_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    assert database_path(Config()) == tmp_path / "data" / "ledger.sqlite3"
    absolute = tmp_path / "elsewhere.sqlite3"
    assert database_path(Config(ledger=LedgerSettings(database=str(absolute)))) == absolute


def test_unpriced_rows_are_stored_with_zero_cost(store: Store) -> None:
    unpriced = Cost(micro_usd=0, priced=False)
    store.apply([PricedUsage(event=usage("r1", model="mystery"), cost=unpriced, day="2026-03-04")])
    (row,) = rows(store)
    assert row["priced"] == 0 and row["cost_micro_usd"] == 0 and row["price_input"] is None
    assert row["prompt_tokens"] == 11  # the tokens are kept, to be priced by hand


def test_a_database_of_the_previous_schema_gets_the_new_columns(tmp_path: Path) -> None:
    from ledger.store import USAGE_COLUMNS, connect

    path = tmp_path / "old.sqlite3"
    old_columns = [c for c in USAGE_COLUMNS if c not in ("cache_write_tokens", "price_cache_write_input")]
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE usage ({', '.join(old_columns)}, PRIMARY KEY (request_id))")
    db = connect(path)
    assert {"cache_write_tokens", "price_cache_write_input"} <= set(db.table("usage").columns_dict)
