"""`scripts/keys`: create, list, disable and credit API keys in the NATS KV bucket `keys`.

The secret is printed once, alone on the last line of `create`, and never stored: the
bucket holds records under the SHA-256 of the secret. Credits are events on the USAGE
stream (the ledger derives balances from them), never an edited number.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from decimal import Decimal, InvalidOperation

import msgspec
import nats
from nats.aio.client import Client

from gateway import natsbus
from gateway.contracts.bus import (
    CREDIT_SUBJECT,
    EVENT_ENCODER,
    KEY_DECODER,
    MSG_ID_HEADER,
    CreditEvent,
    KeyRecord,
)
from gateway.contracts.config import nats_url
from gateway.keycache import hash_secret, open_keys_bucket

SECRET_PREFIX = "sk-gw-"
_ENCODER = msgspec.json.Encoder()


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


def _patterns(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def parser() -> argparse.ArgumentParser:
    """The command line of `scripts/keys`."""
    p = argparse.ArgumentParser(prog="scripts/keys", description="Manage gateway API keys.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create", help="create a key; its secret is printed once, on the last line")
    c.add_argument("name")
    c.add_argument("--models", help="comma-separated model id patterns (default: all), e.g. 'gpt-*,echo'")
    c.add_argument("--rpm", type=_positive, help="requests per minute")
    c.add_argument("--tpm", type=_positive, help="tokens per minute")
    c.add_argument("--credit", help="initial credit in USD; makes the key metered")
    sub.add_parser("list", help="list keys (never their secrets)")
    d = sub.add_parser("disable", help="disable a key by name or id")
    d.add_argument("key")
    cr = sub.add_parser("credit", help="add credit in USD to a key (makes it metered)")
    cr.add_argument("key")
    cr.add_argument("usd")
    return p


async def run(args: argparse.Namespace) -> int:
    """Carry out one command; returns the exit status."""
    nc = await natsbus.connect_once("operator")
    try:
        if args.command == "create":
            credit = usd_to_micro(args.credit) if args.credit is not None else None
            record, secret = await create_key(nc, args.name, _patterns(args.models), args.rpm, args.tpm, credit)
            print(f"created key {record.id} '{record.name}' models={','.join(record.models)}"
                  f" rpm={record.rpm or '-'} tpm={record.tpm or '-'} metered={record.metered}")
            print("the secret below is shown once; store it now:")
            print(secret)
        elif args.command == "list":
            print(f"{'id':<22} {'name':<20} {'models':<24} {'rpm':>6} {'tpm':>8} {'metered':<7} disabled")
            for k in sorted(await all_keys(nc), key=lambda r: r.created_at):
                print(f"{k.id:<22} {k.name:<20} {','.join(k.models):<24} {k.rpm or '-':>6} "
                      f"{k.tpm or '-':>8} {str(k.metered):<7} {k.disabled}")
        elif args.command == "disable":
            record = await find_key(nc, args.key)
            record.disabled = True
            await put_key(nc, record)
            print(f"disabled key {record.id} '{record.name}'")
        elif args.command == "credit":
            record = await find_key(nc, args.key)
            micro = usd_to_micro(args.usd)
            if not record.metered:
                record.metered = True
                await put_key(nc, record)
            event = await publish_credit(nc, record, micro)
            print(f"credited {args.usd} USD to key {record.id} '{record.name}' ({event.event_id})")
        return 0
    finally:
        await nc.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of `scripts/keys`."""
    args = parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except KeyCommandError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1
    except (OSError, nats.errors.Error) as ex:
        print(f"error: cannot reach NATS at {nats_url()}: {type(ex).__name__}: {ex}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
