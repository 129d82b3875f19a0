"""API keys: the one home of hashing, creating, finding, storing and crediting them.

A key's secret is never stored: the NATS KV bucket `keys` holds records under the SHA-256
of the secret. Credits are events on the USAGE stream (the ledger derives balances from
them), never an edited number. `scripts/keys` (gateway/ops/keys_cli.py), the launcher's
demo key and the gateway's key cache (gateway/keycache.py) all use this module.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from decimal import Decimal, InvalidOperation

import msgspec
from nats.aio.client import Client
from nats.js.kv import KeyValue

from gateway.contracts.bus import (
    CREDIT_SUBJECT,
    EVENT_ENCODER,
    KEY_DECODER,
    MSG_ID_HEADER,
    CreditEvent,
    KeyRecord,
)
from gateway.runtime import natsbus

SECRET_PREFIX = "sk-gw-"
_ENCODER = msgspec.json.Encoder()


def hash_secret(secret: str) -> str:
    """The SHA-256 hex of a key's secret: the only form ever stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def open_keys_bucket(nc: Client) -> KeyValue:
    """The `keys` bucket (defined in gateway/runtime/natsbus.py)."""
    return await natsbus.keys_bucket(nc.jetstream())



class KeyCommandError(Exception):
    """A keys command that cannot be carried out (shown to the operator)."""


def new_secret() -> str:
    """A fresh random API key secret."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def usd_to_micro(text: str) -> int:
    """`"0.01"` -> 10000 micro-dollars; no floats for money."""
    try:
        amount = Decimal(text)
    except InvalidOperation as ex:
        raise KeyCommandError(f"not an amount in USD: {text!r}") from ex
    if amount <= 0:
        raise KeyCommandError("a credit must be positive")
    return int((amount * 1_000_000).to_integral_value())


async def all_keys(nc: Client) -> list[KeyRecord]:
    """Every key record in the bucket."""
    kv = await open_keys_bucket(nc)
    records = []
    watcher = await kv.watchall(ignore_deletes=True)
    async for entry in watcher:
        if entry is None:
            break
        if entry.value:
            records.append(KEY_DECODER.decode(entry.value))
        if entry.delta == 0:
            break
    await watcher.stop()  # type: ignore[no-untyped-call]  # nats-py leaves it unannotated
    return records


async def find_key(nc: Client, name_or_id: str) -> KeyRecord:
    """The one enabled-or-not key with this id or name."""
    matches = [k for k in await all_keys(nc) if name_or_id in (k.id, k.name)]
    if not matches:
        raise KeyCommandError(f"no key named or with id '{name_or_id}'")
    if len(matches) > 1:
        enabled = [k for k in matches if not k.disabled]
        if len(enabled) != 1:
            raise KeyCommandError(f"several keys match '{name_or_id}'; use the key id")
        return enabled[0]
    return matches[0]


async def put_key(nc: Client, record: KeyRecord) -> None:
    """Store (or update) a key record."""
    kv = await open_keys_bucket(nc)
    await kv.put(record.hash, _ENCODER.encode(record))


async def publish_credit(nc: Client, record: KeyRecord, micro_usd: int) -> CreditEvent:
    """A credit event on the USAGE stream (deduplicated by its event id)."""
    js = nc.jetstream()
    await natsbus.ensure_usage_stream(js)
    event = CreditEvent(
        event_id=f"credit_{secrets.token_hex(12)}",
        key_id=record.id,
        key_name=record.name,
        amount_micro_usd=micro_usd,
        at=time.time(),
    )
    await js.publish(CREDIT_SUBJECT, EVENT_ENCODER.encode(event), headers={MSG_ID_HEADER: event.event_id})
    return event


async def create_key(nc: Client, name: str, models: list[str], rpm: int | None, tpm: int | None,
                     credit_micro: int | None) -> tuple[KeyRecord, str]:
    """A new key; returns its record and the secret (shown once)."""
    existing = [k for k in await all_keys(nc) if k.name == name and not k.disabled]
    if existing:
        raise KeyCommandError(f"an enabled key named '{name}' exists ({existing[0].id})")
    secret = new_secret()
    record = KeyRecord(
        id=f"key_{secrets.token_hex(8)}",
        name=name,
        hash=hash_secret(secret),
        models=models or ["*"],
        rpm=rpm,
        tpm=tpm,
        created_at=time.time(),
        metered=credit_micro is not None,
    )
    if credit_micro is not None:
        # NOTE: the credit first: by the time the key can be used, its credit is on the
        # stream that gateways follow (gateway/budget.py), ledger or no ledger.
        await publish_credit(nc, record, credit_micro)
    await put_key(nc, record)
    return record, secret
