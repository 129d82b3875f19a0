"""The balance view of one gateway process: the ledger's records, the USAGE events it has
not applied yet, and holds in a counter shared by several processes (in memory here; the
real processes are in tests/e2e/test_credit.py)."""

from __future__ import annotations

import asyncio
import io
from collections import defaultdict

import gevent.queue

from gateway.budget import DIRECT_GET, MAX_ENTRIES, Budget, Reservation
from gateway.contracts.bus import (
    CREDIT_SUBJECT,
    EVENT_ENCODER,
    USAGE_METERED_SUBJECT,
    USAGE_SUBJECT,
    BalanceRecord,
    CreditEvent,
    KeyRecord,
    UsageEvent,
    hold_subject,
)
from gateway.contracts.config import ModelConfig, Price
from gateway.contracts.errors import APIError
from gateway.contracts.log import Logger
from gateway.limits import INCR_HEADER
from gateway.runtime.pricing import Pricer

NOW = 6_000_000.0
WINDOW_S = 100.0
MODEL = ModelConfig(id="m", provider="p", price=Price(input=1.0, output=2.0))  # micro-USD per token


class Counters:
    """What the HOLDS stream does: atomic increments returning the new total."""

    def __init__(self) -> None:
        self.values: dict[str, int] = defaultdict(int)
        self.down = False

    def incr(self, subject: str, delta: str) -> int:
        self.values[subject] += int(delta)
        return self.values[subject]


class _Reply:
    def __init__(self, data: bytes | None) -> None:
        self._data = data

    def get(self, timeout: float) -> bytes:
        if self._data is None:
            raise gevent.queue.Empty
        return self._data

    def close(self) -> None:
        pass


class FakeBridge:
    """The HOLDS stream behind the bridge: increments answer the new total, direct gets the last."""

    ready = True

    def __init__(self, counters: Counters) -> None:
        self._counters = counters

    def request(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> _Reply:
        if self._counters.down:
            return _Reply(None)
        if subject.startswith(DIRECT_GET):
            held = self._counters.values.get(subject[len(DIRECT_GET) + 1:])
            return _Reply(b"" if held is None else b'{"val":"%d"}' % held)  # 404: no body
        assert headers is not None
        return _Reply(b'{"stream":"HOLDS","seq":1,"val":"%d"}' % self._counters.incr(subject, headers[INCR_HEADER]))

    def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        self._counters.incr(subject, headers[INCR_HEADER])


def budget(counters: Counters, now: float = NOW) -> Budget:
    log = Logger("t", io.StringIO())
    return Budget(FakeBridge(counters), Pricer([MODEL], log), log, WINDOW_S,  # type: ignore[arg-type]
                  clock=lambda: now)


KEY = KeyRecord(id="k1", name="k", hash="h", metered=True)


def record(credit: int, spent: int, through: int) -> BalanceRecord:
    return BalanceRecord(key_id="k1", credit_micro_usd=credit, spent_micro_usd=spent,
                         balance_micro_usd=credit - spent, through_seq=through)


def usage(request_id: str, prompt: int, completion: int = 0, key_id: str = "k1") -> bytes:
    return EVENT_ENCODER.encode(UsageEvent(request_id=request_id, key_id=key_id, model="m", provider="p",
                                           prompt_tokens=prompt, completion_tokens=completion))


def credit(amount: int) -> bytes:
    return EVENT_ENCODER.encode(CreditEvent(event_id="c1", key_id="k1", amount_micro_usd=amount))


def admitted(b: Budget, cost: int, key: KeyRecord = KEY) -> Reservation | None:
    try:
        return b.admit(key, cost)
    except APIError as ex:
        assert (ex.status, ex.error.type, ex.error.code) == (429, "insufficient_quota", "insufficient_quota")
        return None


def test_spend_the_ledger_has_not_applied_counts_until_a_record_includes_it() -> None:
    b = budget(Counters())
    b.on_record(record(1000, 200, through=10))
    b.on_event(USAGE_METERED_SUBJECT, usage("r1", 300), 11)
    b.on_event(USAGE_METERED_SUBJECT, usage("r2", 100, 50), 12)  # 100 + 2 x 50
    assert b.available("k1") == 1000 - 200 - 300 - 200
    b.on_record(record(1000, 500, through=11))  # the ledger applied r1 only
    assert b.available("k1") == 1000 - 500 - 200
    b.on_event(USAGE_METERED_SUBJECT, usage("r1", 300), 11)  # a late copy of an applied event
    assert b.available("k1") == 300
    b.on_record(record(1000, 700, through=12))
    assert b.available("k1") == 300


def test_a_record_that_names_no_floor_drops_nothing() -> None:
    b = budget(Counters())
    b.on_record(record(1000, 0, through=5))
    b.on_event(USAGE_METERED_SUBJECT, usage("r1", 300), 6)
    b.on_record(record(1000, 300, through=0))  # a ledger that does not stamp its floor
    assert b.available("k1") == 1000 - 300 - 300  # counted twice: early, never over


def test_a_credit_on_the_stream_counts_before_the_ledger_applies_it() -> None:
    b = budget(Counters())
    assert b.available("k1") is None  # nothing known: a key works at once
    b.on_event(CREDIT_SUBJECT, credit(500), 3)
    b.on_event(USAGE_METERED_SUBJECT, usage("r1", 120), 4)
    assert b.available("k1") == 380
    b.on_record(record(500, 120, through=4))
    assert b.available("k1") == 380


def test_unmetered_keys_are_neither_followed_nor_held() -> None:
    counters = Counters()
    b = budget(counters)
    b.on_record(BalanceRecord(key_id="free", spent_micro_usd=900, balance_micro_usd=-900, through_seq=2))
    b.on_event(USAGE_SUBJECT, usage("r1", 100, key_id="free"), 3)  # not followed; ignored if fed
    assert b.available("free") == -900  # the record alone: its events are skipped
    assert b.admit(KeyRecord(id="free", name="f", hash="x"), 10**9) is None
    assert not counters.values


def test_holds_of_other_processes_count_and_the_burst_stops_at_the_edge() -> None:
    counters = Counters()
    processes = [budget(counters) for _ in range(3)]
    for b in processes:
        b.on_record(record(1000, 0, through=1))
    admitted_costs = []
    for turn in range(12):
        if admitted(processes[turn % 3], 300) is not None:
            admitted_costs.append(300)
    # admitted while credit minus every process's holds was positive: 0, 300, 600, 900
    assert admitted_costs == [300] * 4
    assert counters.values[hold_subject("k1", int(NOW // WINDOW_S))] == 1200  # refusals gave theirs back


def test_a_hold_is_given_back_when_its_usage_event_is_seen() -> None:
    counters = Counters()
    b = budget(counters)
    b.on_record(record(1000, 0, through=1))
    subject = hold_subject("k1", int(NOW // WINDOW_S))
    reservation = b.admit(KEY, 600)
    b.release(reservation, "req-1")
    assert counters.values[subject] == 600  # ended, but its cost is not on the stream yet
    assert admitted(b, 1) is not None  # 1000 - 600 > 0
    counters.values[subject] -= 1

    class Loop:
        async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
            counters.incr(subject, headers[INCR_HEADER])

    async def see() -> None:
        b.on_event(USAGE_METERED_SUBJECT, usage("req-1", 700), 2, Loop())  # type: ignore[arg-type]
        await asyncio.sleep(0)

    asyncio.run(see())
    assert counters.values[subject] == 0
    assert b.available("k1") == 300
    # seen before the end: given back at once
    b.on_event(USAGE_METERED_SUBJECT, usage("req-2", 0), 3)
    b.release(b.admit(KEY, 100), "req-2")
    assert counters.values[subject] == 0


def test_a_hold_whose_event_never_comes_is_given_back_after_the_grace() -> None:
    counters = Counters()
    b = budget(counters)
    b.on_record(record(1000, 0, through=1))
    b.release(b.admit(KEY, 400), "req-lost")
    assert sum(counters.values.values()) == 400
    b.expire(0.0)  # ended after that: kept
    assert sum(counters.values.values()) == 400
    b.expire(float("inf"))
    assert sum(counters.values.values()) == 0


def test_a_hold_from_the_previous_window_still_counts_and_an_older_one_has_expired() -> None:
    counters = Counters()
    before = budget(counters, NOW)
    before.on_record(record(1000, 0, through=1))
    assert admitted(before, 900) is not None  # its gateway dies: never given back
    after = budget(counters, NOW + WINDOW_S)
    after.on_record(record(1000, 0, through=1))
    assert admitted(after, 100) is not None  # 1000 - 900 > 0
    assert admitted(after, 1) is None  # 1000 - 900 - 100 = 0
    later = budget(counters, NOW + 3 * WINDOW_S)  # the stream has dropped those windows
    later.on_record(record(1000, 0, through=1))
    assert admitted(later, 1) is not None


def test_a_long_outage_coarsens_the_unapplied_list_but_never_drops_spend() -> None:
    b = budget(Counters())
    b.on_record(record(10**9, 0, through=0))
    events = MAX_ENTRIES + 500
    for seq in range(1, events + 1):
        b.on_event(USAGE_METERED_SUBJECT, usage(f"r{seq}", 1), seq)
    assert b.available("k1") == 10**9 - events
    b.on_record(record(10**9, MAX_ENTRIES - 1, through=MAX_ENTRIES - 1))
    assert b.available("k1") == 10**9 - events  # exact while entries are one per event
    b.on_record(record(10**9, events - 1, through=events - 1))
    # the merged newest entry (the last 501 events) stays until all of it is applied:
    # counted twice meanwhile, which refuses early rather than overspends
    assert b.available("k1") == 10**9 - (events - 1) - 501
    b.on_record(record(10**9, events, through=events))
    assert b.available("k1") == 10**9 - events


def test_without_the_counter_this_process_holds_its_own() -> None:
    counters = Counters()
    b = budget(counters)
    b.on_record(record(1000, 0, through=1))
    counters.down = True
    assert admitted(b, 600) is not None
    assert admitted(b, 600) is not None  # 1000 - 600 > 0
    assert admitted(b, 1) is None
    assert not counters.values
