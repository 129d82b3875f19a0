"""The ledger loop's batch step: store, then ack, then balances; nothing acked on failure."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from nats.aio.msg import Msg

from gateway.contracts.bus import BALANCE_DECODER, CREDIT_SUBJECT, EVENT_ENCODER, USAGE_SUBJECT, CreditEvent
from ledger.balances import BalancePublisher
from ledger.main import Ledger, cli
from gateway.runtime.pricing import Pricer
from ledger.store import Store
from tests.ledger.conftest import MODELS, NOON, quiet, usage
from tests.ledger.test_balances import FakeKV


class FakeClient:
    """Where Msg.ack() publishes; records what was acked, in order."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    async def publish(self, subject: str, payload: bytes = b"", **_: Any) -> None:
        self.events.append(f"ack {subject.split('.')[5]}")


def js_msg(client: FakeClient, subject: str, data: bytes, seq: int) -> Msg:
    reply = f"$JS.ACK.USAGE.ledger.1.{seq}.{seq}.{int(NOON * 1e9)}.0"
    return Msg(_client=client, subject=subject, reply=reply, data=data)  # type: ignore[arg-type]


class RecordingStore(Store):
    def __init__(self, store: Store, events: list[str], fail: bool = False) -> None:
        super().__init__(store.db)
        self.events, self.fail = events, fail

    def apply(self, batch: Any) -> Any:
        if self.fail:
            raise sqlite3.OperationalError("disk I/O error")
        applied = super().apply(batch)
        self.events.append("commit")
        return applied


def batch(client: FakeClient) -> list[Msg]:
    credit = CreditEvent(event_id="c1", key_id="key_a", key_name="alice", amount_micro_usd=10_000, at=NOON)
    return [js_msg(client, USAGE_SUBJECT, EVENT_ENCODER.encode(usage("r1")), 1),
            js_msg(client, CREDIT_SUBJECT, EVENT_ENCODER.encode(credit), 2),
            js_msg(client, USAGE_SUBJECT, b"garbage", 3)]


def test_batch_is_committed_then_acked_then_balances_published(store: Store) -> None:
    events: list[str] = []
    kv, log = FakeKV(), quiet()
    ledger = Ledger(RecordingStore(store, events), Pricer(MODELS, log), BalancePublisher(kv, log), log)
    assert asyncio.run(ledger.handle(batch(FakeClient(events))))
    assert events == ["commit", "ack 1", "ack 2", "ack 3"]  # the undecodable one is acked too: it is kept
    assert store.db["usage"].count == 1 and store.db["rejected"].count == 1
    assert [key for key, _ in kv.puts] == ["key_a"]
    assert BALANCE_DECODER.decode(kv.puts[0][1]).balance_micro_usd == 10_000 - 64
    line = json.loads(log.stream.getvalue().splitlines()[-1])  # type: ignore[union-attr]
    assert line["event"] == "ledger_batch" and line["count"] == 3 and line["keys"] == ["key_a"]
    assert (line["inserted"], line["credits"], line["rejected"]) == (1, 1, 1)


def test_a_redelivered_batch_changes_nothing(store: Store) -> None:
    events: list[str] = []
    log = quiet()
    ledger = Ledger(store, Pricer(MODELS, log), BalancePublisher(FakeKV(), log), log)
    client = FakeClient(events)
    asyncio.run(ledger.handle(batch(client)))
    before = store.summary()
    asyncio.run(ledger.handle(batch(client)))
    assert store.summary() == before
    assert json.loads(log.stream.getvalue().splitlines()[-1])["duplicates"] == 2  # type: ignore[union-attr]


def test_a_database_failure_acks_nothing(store: Store) -> None:
    events: list[str] = []
    log = quiet()
    ledger = Ledger(RecordingStore(store, events, fail=True), Pricer(MODELS, log), BalancePublisher(FakeKV(), log), log)
    assert not asyncio.run(ledger.handle(batch(FakeClient(events))))
    assert events == []  # JetStream redelivers the batch after ack_wait
    assert "ledger_store_failed" in log.stream.getvalue()  # type: ignore[union-attr]


def test_sighup_reloads_prices_and_keeps_them_on_a_bad_config(store: Store, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    log = quiet()
    ledger = Ledger(store, Pricer([], log), BalancePublisher(FakeKV(), log), log)
    config = tmp_path / "gateway.toml"
    config.write_text('[providers.p]\nkind = "echo"\n[[models]]\nid = "gpt-a"\nprovider = "p"\n'
                      'price = { input = 1.0, output = 0.0 }\n')
    monkeypatch.setenv("GATEWAY_CONFIG", str(config))
    ledger.reload_prices()
    assert ledger.pricer.cost(usage("r1", prompt_tokens=1000, cached_tokens=0)).micro_usd == 1000
    config.write_text("[nonsense\n")
    ledger.reload_prices()
    assert ledger.pricer.cost(usage("r1", prompt_tokens=1000, cached_tokens=0)).micro_usd == 1000
    assert "prices_reload_failed" in log.stream.getvalue()  # type: ignore[union-attr]


def test_force_goes_only_with_rebuild() -> None:
    with pytest.raises(SystemExit) as ex:
        cli(["--force"])
    assert ex.value.code == 2


class SyncAckClient(FakeClient):
    """Also answers ack_sync (a request on the ack subject), as the server does once it
    has handled that ack and every one before it."""

    async def request(self, subject: str, payload: bytes = b"", timeout: float = 1.0, **_: Any) -> Msg:
        self.events.append(f"ack_sync {subject.split('.')[5]}")
        return Msg(_client=self, subject=subject, data=b"")  # type: ignore[arg-type]


def test_records_are_stamped_with_the_floor_read_after_the_last_ack_is_confirmed(store: Store) -> None:
    events: list[str] = []
    kv, log = FakeKV(), quiet()
    floors = iter([3, 3, 3, 9])  # the batch, the empty fetch, the late event, the next batch

    async def floor() -> int:
        events.append("floor")
        return next(floors)

    ledger = Ledger(RecordingStore(store, events), Pricer(MODELS, log), BalancePublisher(kv, log), log, floor=floor)
    client = SyncAckClient(events)
    assert asyncio.run(ledger.handle(batch(client)))
    assert events == ["commit", "ack 1", "ack 2", "ack_sync 3", "floor"]
    assert BALANCE_DECODER.decode(kv.puts[-1][1]).through_seq == 3
    # a fetch that came back empty is no batch at all (it used to crash the ledger)
    assert asyncio.run(ledger.handle([]))
    # applied past the floor (an earlier batch awaits redelivery): stamped with the floor
    # it has, and published again once the floor passes its event
    late = js_msg(client, USAGE_SUBJECT, EVENT_ENCODER.encode(usage("r9", key_id="key_b")), 7)
    assert asyncio.run(ledger.handle([late]))
    assert [(k, BALANCE_DECODER.decode(v).through_seq) for k, v in kv.puts[-1:]] == [("key_b", 3)]
    other = js_msg(client, USAGE_SUBJECT, EVENT_ENCODER.encode(usage("r10", key_id="key_c")), 9)
    assert asyncio.run(ledger.handle([other]))
    assert sorted((k, BALANCE_DECODER.decode(v).through_seq) for k, v in kv.puts[-2:]) == [("key_b", 9), ("key_c", 9)]


def test_a_config_typo_stops_the_ledger_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from ledger.main import run
    config = tmp_path / "gateway.toml"
    config.write_text('[providers.echo]\nkind = "echo"\n[ledger]\ndatabse = "x"\n')
    monkeypatch.setenv("GATEWAY_CONFIG", str(config))
    with pytest.raises(SystemExit) as stopped:
        run()
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert err == f"ledger: {config} line 4: invalid config: Object contains unknown field `databse`" \
                  " - at `$.ledger`\n"
