"""`scripts/status [--format table|json] [--wait S]`: the running system, asked over NATS.

Connects as the operator, asks every gateway, worker and ledger process for its status
(gateway/runtime/status.py) and shows: connected gateway processes, worker processes per provider
(every provider of the config, so one without workers shows 0), the ledger's lag and last
commit, and today's spend per key (UTC day, as the ledger has billed it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import msgspec
import nats

from gateway.runtime import natsbus
from gateway.contracts import config as configuration
from gateway.contracts.bus import ProcessStatus
from gateway.contracts.config import unreachable_nats
from gateway.runtime.status import GATHER_S, gather


class Overview(msgspec.Struct, kw_only=True):
    """What `--format json` prints (a stable interface)."""

    gateways: list[ProcessStatus]
    workers: list[ProcessStatus]
    workers_per_provider: dict[str, int]
    ledger: ProcessStatus | None
    spend_today: dict[str, str]
    day: str


def overview(answers: list[ProcessStatus], providers: list[str]) -> Overview:
    """The answers, grouped."""
    workers = [a for a in answers if a.role == "worker"]
    per_provider = {p: 0 for p in providers}
    for worker in workers:
        for provider in worker.providers:
            per_provider[provider] = per_provider.get(provider, 0) + 1
    ledgers = [a for a in answers if a.role == "ledger"]
    ledger = ledgers[0] if ledgers else None
    return Overview(gateways=[a for a in answers if a.role == "gateway"], workers=workers,
                    workers_per_provider=dict(sorted(per_provider.items())), ledger=ledger,
                    spend_today=ledger.spend_today if ledger else {}, day=ledger.day if ledger else "")


def _ago(at: float | None, now: float) -> str:
    return "never" if at is None else f"{max(0.0, now - at):.1f}s ago"


def render_table(view: Overview, now: float) -> str:
    """The overview for a person."""
    out = [f"gateways: {len(view.gateways)} process(es)"]
    for g in view.gateways:
        out.append(f"  {g.id}  v{g.version}  up {g.uptime_s:.0f}s  in flight {g.in_flight}  open streams {g.open_streams}")
    out.append(f"workers: {len(view.workers)} process(es)")
    for provider, count in view.workers_per_provider.items():
        out.append(f"  {provider}: {count}" + ("  <- no worker" if count == 0 else ""))
    for w in view.workers:
        out.append(f"  {w.id}  v{w.version}  up {w.uptime_s:.0f}s  in flight {w.in_flight}  "
                   f"providers {','.join(w.providers)}")
        for provider, variable in sorted(w.missing_secrets.items()):
            out.append(f"    {provider}: unavailable, {variable} is not set (its models answer 404 model_unavailable)")
    ledger = view.ledger
    if ledger is None:
        out.append("ledger: not answering")
    else:
        lag = "unknown" if ledger.pending_events is None else f"{ledger.pending_events} event(s)"
        out.append(f"ledger: {ledger.id}  v{ledger.version}  up {ledger.uptime_s:.0f}s  lag {lag}  "
                   f"last commit {_ago(ledger.last_commit_at, now)}")
        out.append(f"spend today ({ledger.day}, UTC):" + ("" if ledger.spend_today else " none"))
        width = max((len(k) for k in ledger.spend_today), default=0)
        for key, spent in sorted(ledger.spend_today.items()):
            out.append(f"  {key.ljust(width)}  {spent} USD")
    return "\n".join(out) + "\n"


def configured_providers() -> list[str]:
    """The config's providers, or none when it cannot be read here."""
    try:
        return list(configuration.load().providers)
    except configuration.ConfigError:
        return []


async def ask(wait_s: float) -> list[ProcessStatus]:
    """Connect as the operator and gather the answers."""
    nc = await natsbus.connect_once("operator")
    try:
        return await gather(nc, wait_s)
    finally:
        await nc.close()


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="scripts/status", description="Status of the running gateway, over NATS.")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--wait", type=float, default=GATHER_S, help="seconds to collect answers (default %(default)s)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of `scripts/status`."""
    args = parser().parse_args(argv)
    try:
        answers = asyncio.run(ask(args.wait))
    except (OSError, nats.errors.Error, asyncio.TimeoutError) as ex:
        print(f"error: {unreachable_nats(ex)}", file=sys.stderr)
        return 1
    view = overview(answers, configured_providers())
    if args.format == "json":
        data: Any = msgspec.to_builtins(view)
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(data)).decode() + "\n")
    else:
        sys.stdout.write(render_table(view, time.time()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
