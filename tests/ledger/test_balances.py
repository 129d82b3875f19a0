"""Balances: credits - costs per key, derived, published to the `balances` bucket."""

from __future__ import annotations

import asyncio
import json

import nats

from gateway.contracts.bus import BALANCE_DECODER
from ledger.balances import BalancePublisher, KeyBalance, read_balances, to_record
from ledger.store import Store
from tests.ledger.conftest import credit, priced, quiet, usage


class FakeKV:
    """Records puts; fails the first `failures` of them like a NATS outage."""

    def __init__(self, failures: int = 0) -> None:
        self.puts: list[tuple[str, bytes]] = []
        self.failures = failures

    async def put(self, key: str, value: bytes) -> int:
        if self.failures:
            self.failures -= 1
            raise nats.errors.TimeoutError
        self.puts.append((key, value))
        return len(self.puts)


def test_balance_is_credits_minus_costs(store: Store) -> None:
    store.apply([credit("c1", micro=10_000), credit("c2", micro=2_500), priced(usage("r1"), micro=64),
                 priced(usage("r2"), micro=1_000), priced(usage("r3", key_id="key_b"), micro=7)])
    alice, bob = read_balances(store.db)
    assert alice == KeyBalance(key_id="key_a", key_name="alice", credit_micro_usd=12_500, spent_micro_usd=1_064,
                               credit_events=2)
    assert alice.balance_micro_usd == 11_436 and alice.metered
    assert bob.balance_micro_usd == -7 and not bob.metered  # unmetered: never credited


def test_spend_before_the_first_credit_counts(store: Store) -> None:
    store.apply([priced(usage("r1"), micro=300)])
    store.apply([credit("c1", micro=1_000)])
    (alice,) = read_balances(store.db)
    assert alice.balance_micro_usd == 700


def test_read_balances_of_some_keys(store: Store) -> None:
    store.apply([credit("c1"), credit("c2", key_id="key_b"), credit("c3", key_id="key_c")])
    assert [b.key_id for b in read_balances(store.db, {"key_c", "key_a", "key_zzz"})] == ["key_a", "key_c"]
    assert read_balances(store.db, []) == []


def test_record_carries_the_derived_numbers() -> None:
    record = to_record(KeyBalance("key_a", "alice", 100, 30, 1), now=5.0)
    assert (record.key_id, record.key_name) == ("key_a", "alice")
    assert (record.credit_micro_usd, record.spent_micro_usd) == (100, 30)
    assert record.balance_micro_usd == 70 and record.updated_at == 5.0


def test_changed_keys_are_published_under_their_id(store: Store) -> None:
    applied = store.apply([credit("c1", micro=10_000), priced(usage("r1"), micro=64),
                           priced(usage("r2", key_id="key_b"), micro=5)])
    kv = FakeKV()
    publisher = BalancePublisher(kv, quiet(), clock=lambda: 42.0)
    publisher.mark(applied.keys)
    assert asyncio.run(publisher.flush(store.db)) == 2
    published = {key: BALANCE_DECODER.decode(value) for key, value in kv.puts}
    assert published["key_a"].balance_micro_usd == 9_936 and published["key_a"].credit_micro_usd == 10_000
    assert published["key_b"].balance_micro_usd == -5 and published["key_b"].updated_at == 42.0
    assert publisher.pending == set()
    assert asyncio.run(publisher.flush(store.db)) == 0  # nothing changed, nothing sent


def test_a_failed_publish_is_retried_with_fresh_numbers(store: Store) -> None:
    store.apply([credit("c1", micro=10_000)])
    kv = FakeKV(failures=1)
    log = quiet()
    publisher = BalancePublisher(kv, log)
    publisher.mark({"key_a"})
    assert asyncio.run(publisher.flush(store.db)) == 0
    assert publisher.pending == {"key_a"} and kv.puts == []
    assert json.loads(log.stream.getvalue())["event"] == "balance_publish_failed"  # type: ignore[union-attr]
    store.apply([priced(usage("r1"), micro=100)])  # spent meanwhile
    assert asyncio.run(publisher.flush(store.db)) == 1
    assert BALANCE_DECODER.decode(kv.puts[0][1]).balance_micro_usd == 9_900


def test_a_key_id_nats_cannot_store_is_skipped_and_logged(store: Store) -> None:
    store.apply([credit("c1", key_id="key a*")])
    kv, log = FakeKV(), quiet()
    publisher = BalancePublisher(kv, log)
    publisher.mark({"key a*"})
    assert asyncio.run(publisher.flush(store.db)) == 0
    assert kv.puts == [] and publisher.pending == set()
    assert "balance_key_invalid" in log.stream.getvalue()  # type: ignore[union-attr]
