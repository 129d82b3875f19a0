"""Builders shared by the ledger's unit tests: events, priced entries, a store, a log."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.contracts.bus import CreditEvent, UsageEvent
from gateway.contracts.config import ModelConfig, Price
from gateway.contracts.log import Logger
from ledger.entries import Credit, PricedUsage
from gateway.runtime.pricing import Cost, Pricer
from ledger.store import Store

# 2026-03-04 12:00:00 UTC
NOON = 1_772_625_600.0
DAY = "2026-03-04"

MODELS = [
    ModelConfig(id="gpt-a", provider="p", price=Price(input=2.5, output=10.0, cached_input=1.25)),
    ModelConfig(id="gpt-b", provider="p", price=Price(input=0.15, output=0.60)),
    ModelConfig(id="free", provider="p"),
]


def usage(request_id: str, key_id: str = "key_a", **fields: Any) -> UsageEvent:
    """A worker's UsageEvent with sensible defaults."""
    base: dict[str, Any] = {"key_name": "alice" if key_id == "key_a" else key_id.removeprefix("key_"),
                            "model": "gpt-a", "provider": "p", "prompt_tokens": 11, "cached_tokens": 3,
                            "completion_tokens": 4, "total_tokens": 15, "started_at": NOON - 1, "finished_at": NOON}
    base.update(fields)
    return UsageEvent(request_id=request_id, key_id=key_id, **base)


def priced(event: UsageEvent, micro: int | None = None, day: str = DAY, seq: int = 0) -> PricedUsage:
    """A usage entry; cost = `micro`, or the test models' real price."""
    cost = Cost(micro_usd=micro, priced=True) if micro is not None else Pricer(MODELS, quiet()).cost(event)
    return PricedUsage(event=event, cost=cost, day=day, seq=seq)


def credit(event_id: str, key_id: str = "key_a", micro: int = 1_000_000, day: str = DAY) -> Credit:
    """A credit entry."""
    name = "alice" if key_id == "key_a" else key_id.removeprefix("key_")
    return Credit(event=CreditEvent(event_id=event_id, key_id=key_id, key_name=name, amount_micro_usd=micro,
                                    at=NOON), day=day)


def quiet() -> Logger:
    """A logger writing to a buffer (read it back with `.stream.getvalue()`)."""
    return Logger("ledger", io.StringIO())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh ledger database on disk (WAL needs a real file)."""
    s = Store.open(tmp_path / "ledger.sqlite3")
    yield s
    s.close()
