"""`scripts/keys`: create, list, disable and credit API keys in the NATS KV bucket `keys`.

The secret is printed once, alone on the last line of `create`, and never stored: the
bucket holds records under the SHA-256 of the secret. Credits are events on the USAGE
stream (the ledger derives balances from them), never an edited number.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from fnmatch import fnmatchcase

import nats
from nats.aio.client import Client

from gateway.contracts import config as configuration
from gateway.contracts.config import unreachable_nats
from gateway.runtime import natsbus
from gateway.runtime.response_store import purge_key, stored_ids
from gateway.runtime.keys import (
    KeyCommandError,
    all_keys,
    create_key,
    find_key,
    publish_credit,
    put_key,
    usd_to_micro,
)


def _patterns(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def unmatched(patterns: list[str], model_ids: list[str]) -> list[str]:
    """The patterns that match no configured model id (a typo locks the key out)."""
    return [p for p in patterns if not any(fnmatchcase(m, p) or fnmatchcase(p, m) for m in model_ids)]


def _warn_unmatched(patterns: list[str]) -> None:
    try:
        ids = [m.id for m in configuration.load().models]
    except configuration.ConfigError:
        return  # no config to check against: the key is still created
    for pattern in unmatched(patterns, ids):
        print(f"warning: --models pattern '{pattern}' matches no configured model"
              f" ({', '.join(ids)})", file=sys.stderr)


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
    r = sub.add_parser("responses", help="list or purge a key's stored /v1/responses (they hold full prompts)")
    r.add_argument("action", choices=["list", "purge"])
    r.add_argument("key")
    return p


async def run(args: argparse.Namespace) -> int:
    """Carry out one command; returns the exit status."""
    nc = await natsbus.connect_once("operator")
    try:
        if args.command == "create":
            credit = usd_to_micro(args.credit) if args.credit is not None else None
            _warn_unmatched(_patterns(args.models))
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
        elif args.command == "responses":
            await _responses(nc, args.action, args.key)
        return 0
    finally:
        await nc.close()


async def _responses(nc: Client, action: str, key: str) -> None:
    record = await find_key(nc, key)
    if action == "list":
        ids = await stored_ids(nc.jetstream(), record.id)
        print(f"{len(ids)} stored response(s) of key {record.id} '{record.name}'")
        for response_id in ids:
            print(response_id)
    else:
        count = await purge_key(nc.jetstream(), record.id)
        print(f"purged {count} stored response(s) of key {record.id} '{record.name}'")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `scripts/keys`."""
    args = parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except KeyCommandError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1
    except (OSError, nats.errors.Error) as ex:
        print(f"error: {unreachable_nats(ex)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
