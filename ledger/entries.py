"""USAGE stream messages -> typed ledger entries (priced usage, credits, rejects).

Everything an entry holds comes from the message itself (its data, stream sequence and
stream timestamp) plus the config's prices, never from the clock of the process that
reads it: the live ledger and `--rebuild` turn the same message into the same entry.

A message the ledger cannot bill (undecodable, negative tokens, no key id, an unknown
subject) becomes a `Rejected` entry: it is acknowledged (redelivering it forever would
stall the stream) and kept whole in the `rejected` table, so nothing vanishes silently.
"""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
from msgspec import Struct

from gateway.contracts.bus import (
    CREDIT_DECODER,
    CREDIT_SUBJECT,
    USAGE_DECODER,
    USAGE_METERED_SUBJECT,
    USAGE_SUBJECT,
    CreditEvent,
    UsageEvent,
)
from gateway.runtime.pricing import Cost, Pricer


class PricedUsage(Struct, frozen=True):
    """A UsageEvent with its cost and billing day (UTC)."""

    event: UsageEvent
    cost: Cost
    day: str
    seq: int = 0  # stream sequence of the message (0 in unit tests)


class Credit(Struct, frozen=True):
    """A CreditEvent with its day (UTC)."""

    event: CreditEvent
    day: str
    seq: int = 0


class Rejected(Struct, frozen=True):
    """A message that cannot be billed, kept for an operator to look at."""

    seq: int
    subject: str
    reason: str
    data: bytes


Entry = PricedUsage | Credit | Rejected


def utc_day(ts: float) -> str:
    """`YYYY-MM-DD` of a unix time, in UTC."""
    return datetime.fromtimestamp(ts, timezone.utc).date().isoformat()


def usage_problem(event: UsageEvent) -> str | None:
    """Why a usage event cannot be billed, or None."""
    if not event.request_id or not event.key_id:
        return "missing request_id or key_id"
    counts = (event.prompt_tokens, event.completion_tokens, event.total_tokens, event.cached_tokens,
              event.cache_write_tokens)
    if min(counts) < 0:
        return "negative token count"
    return None


def to_entry(subject: str, data: bytes, seq: int, stored_at: float, pricer: Pricer) -> Entry:
    """The ledger entry of one stream message.

    `stored_at` (the stream's timestamp) dates an event that carries no time of its own.
    Usage is dated by when the request finished, credits by when they were given.
    """
    try:
        if subject in (USAGE_SUBJECT, USAGE_METERED_SUBJECT):
            usage = USAGE_DECODER.decode(data)
            problem = usage_problem(usage)
            if problem:
                return Rejected(seq=seq, subject=subject, reason=problem, data=data)
            when = usage.finished_at or usage.started_at or stored_at
            return PricedUsage(event=usage, cost=pricer.cost(usage), day=utc_day(when), seq=seq)
        if subject == CREDIT_SUBJECT:
            credit = CREDIT_DECODER.decode(data)
            if not credit.event_id or not credit.key_id:
                return Rejected(seq=seq, subject=subject, reason="missing event_id or key_id", data=data)
            return Credit(event=credit, day=utc_day(credit.at or stored_at), seq=seq)
    except msgspec.DecodeError as ex:  # ValidationError is a DecodeError
        return Rejected(seq=seq, subject=subject, reason=f"undecodable: {ex}", data=data)
    return Rejected(seq=seq, subject=subject, reason="unknown subject", data=data)
