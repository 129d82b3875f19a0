"""Balance admission: metered keys whose balance is spent get 429 insufficient_quota.

Balances come from the ledger through the KV bucket `balances` (watched, read from
memory). Between two ledger updates this process also counts what its own requests in
flight may still cost (their reservation), so a burst at the edge of a balance is
refused here rather than overspent; what other processes have in flight can still
overshoot by at most their own reservations.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import msgspec
from nats.aio.client import Client

from gateway import natsbus
from gateway.contracts.bus import BALANCE_DECODER, KeyRecord
from gateway.contracts.config import ModelConfig
from gateway.contracts.errors import insufficient_quota
from gateway.contracts.log import Logger


def estimate_cost_micro(model: ModelConfig, prompt_tokens: int, output_tokens: int) -> int:
    """Micro-dollars a request may cost: prices are USD per 1M tokens = micro-USD per token."""
    return int(prompt_tokens * model.price.input + output_tokens * model.price.output + 0.999999)


@dataclass(slots=True)
class Reservation:
    """What one admitted request holds against its key's balance until it ends."""

    key_id: str
    micro_usd: int


class Budget:
    """Balances by key id, from the ledger, plus this process's reservations."""

    def __init__(self, log: Logger) -> None:
        self._log = log
        self._balances: dict[str, int] = {}
        # NOTE: only greenlets touch reservations and they never yield inside admit/release,
        # so no lock is needed; the loop thread only replaces whole balance entries.
        self._reserved: dict[str, int] = {}

    async def watch(self, nc: Client) -> None:
        """(asyncio) Follow the `balances` bucket."""
        kv = await natsbus.balances_bucket(nc.jetstream())
        watcher = await kv.watchall()

        async def follow() -> None:
            async for entry in watcher:
                if entry is None or not entry.value:
                    continue
                try:
                    record = BALANCE_DECODER.decode(entry.value)
                except msgspec.DecodeError:
                    self._log.error("bad_balance_record", key=entry.key)
                    continue
                self._balances[record.key_id] = record.balance_micro_usd

        asyncio.ensure_future(follow())

    def balance(self, key_id: str) -> int | None:
        """The last balance the ledger published, or None."""
        return self._balances.get(key_id)

    def admit(self, key: KeyRecord, cost_micro: int) -> Reservation | None:
        """Reserve `cost_micro` or raise 429; None for unmetered keys (no check at all)."""
        if not key.metered:
            return None
        balance = self._balances.get(key.id)
        reserved = self._reserved.get(key.id, 0)
        # NOTE: no balance yet means the ledger has not seen the key's credit: let it
        # through (a key works at once) and rely on the next balance update.
        if balance is not None and balance - reserved <= 0:
            raise insufficient_quota(
                "This API key's balance is used up; add credit with `scripts/keys credit`."
            )
        self._reserved[key.id] = reserved + cost_micro
        return Reservation(key.id, cost_micro)

    def release(self, reservation: Reservation | None) -> None:
        """The request ended: its real cost reaches the balance through the ledger."""
        if reservation is None:
            return
        left = self._reserved.get(reservation.key_id, 0) - reservation.micro_usd
        if left > 0:
            self._reserved[reservation.key_id] = left
        else:
            self._reserved.pop(reservation.key_id, None)
