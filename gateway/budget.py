"""Balance admission that holds across every gateway process and host, however far the
ledger lags: metered keys whose balance is spent get 429 insufficient_quota.

A metered key's balance, as each gateway process sees it, is

    credit - spent            the ledger's last `balances` record (watched)
           - unapplied        USAGE events after that record's `through_seq` (followed)
           - held             what requests in flight hold (a shared counter)

- `unapplied`: every gateway process follows the USAGE stream itself (an ephemeral
  ordered consumer) and prices the usage events of credited keys with the ledger's own
  `Pricer` as they are published; credits not yet applied count too. A `balances` record
  says up to which stream sequence the ledger has applied everything (its ack floor), so
  the events up to it drop out when the record arrives: a paused or dead ledger only
  makes this list longer (coarsened past `MAX_ENTRIES` per key, so memory stays bounded).
- `held`: at admission a request adds its worst-case cost (prompt estimate plus its
  output limit, priced by the same `Pricer` as its bill and rounded up) to the JetStream counter `holds.<key>.<window>` (atomic on the server,
  so every process sees every other's holds) and reads the previous window's. It gives
  the hold back once its usage event is on the stream (seen by this process's follower),
  or a grace period (`release_grace_s`) after the end when none comes. A window outlives a request's
  deadline, and the stream drops windows after three, so the hold of a request whose
  gateway died mid-way expires instead of leaking.

A request is admitted while that balance, before its own hold, is positive. So the spend
can pass the credit only by what requests admitted before the balance reached zero
actually cost beyond their holds: the requests in flight at that moment.

Unmetered keys pay nothing: no counter, and their usage events never reach a gateway
(workers publish metered keys' usage on a subject of its own, `usage.metered`). If the
counter cannot be reached, this process's own holds stand in for the shared ones
(logged): the bound then holds per process.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import gevent
import gevent.queue
import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from gateway.runtime import natsbus
from gateway.bus_client import Bridge
from gateway.contracts.bus import (
    BALANCE_DECODER,
    BALANCES_BUCKET,
    CREDIT_DECODER,
    CREDIT_SUBJECT,
    HOLDS_STREAM,
    USAGE_DECODER,
    USAGE_METERED_SUBJECT,
    USAGE_STREAM,
    BalanceRecord,
    KeyRecord,
    hold_subject,
)
from gateway.contracts.config import GatewaySettings, ModelConfig
from gateway.contracts.errors import insufficient_quota
from gateway.contracts.log import Logger
from gateway.limits import INCR_HEADER
from gateway.runtime.kvmirror import KVMirror
from gateway.runtime.pricing import Pricer

HOLD_TIMEOUT_S = 2.0
RELEASE_GRACE_S = 5.0  # a request that ends without a usage event keeps its hold this long
MAX_ENTRIES = 4096  # per key; past it, new unapplied events merge into the newest entry
SEEN_IDS = 20_000  # recent request ids of credited keys seen on USAGE
PREVIOUS_TTL_S = 1.0
SWEEP_S = 1.0
DIRECT_GET = f"$JS.API.DIRECT.GET.{HOLDS_STREAM}"


def release_grace_s(settings: GatewaySettings) -> float:
    """How long an ended request's hold waits for its usage event (never past its timeout)."""
    return min(RELEASE_GRACE_S, settings.request_timeout_s)


def hold_window_s(settings: GatewaySettings) -> float:
    """A hold window outlasts any request's deadline plus the release grace."""
    return settings.request_timeout_s + 2 * release_grace_s(settings)


class _KeyOnly(msgspec.Struct):
    key_id: str = ""


_KEY_ONLY = msgspec.json.Decoder(_KeyOnly)


class _Value(msgspec.Struct):
    val: str = "0"
    error: object = None  # JetStream refused the increment


_VALUE = msgspec.json.Decoder(_Value)


@dataclass(slots=True)
class Reservation:
    """What one admitted request holds against its key's balance until it ends."""

    key_id: str
    micro_usd: int
    subject: str | None  # the shared counter it was added to (None: only local)


class Unapplied:
    """A key's USAGE events the ledger has not applied yet: [last stream seq, micro-USD]
    entries in stream order (credits negative), and their sum."""

    __slots__ = ("entries", "total")

    def __init__(self) -> None:
        self.entries: deque[list[int]] = deque()
        self.total = 0

    def add(self, seq: int, micro_usd: int) -> None:
        """One event; past MAX_ENTRIES it joins the newest entry (dropped only once the
        ledger has applied all of it: conservative, never lost)."""
        if len(self.entries) >= MAX_ENTRIES:
            last = self.entries[-1]
            last[0], last[1] = seq, last[1] + micro_usd
        else:
            self.entries.append([seq, micro_usd])
        self.total += micro_usd

    def applied_through(self, seq: int) -> None:
        """The ledger's figures now include every event up to `seq`."""
        entries = self.entries
        while entries and entries[0][0] <= seq:
            self.total -= entries.popleft()[1]


class Budget:
    """Balances by key id: the ledger's records, unapplied events, shared holds."""

    def __init__(self, bridge: Bridge, pricer: Pricer, log: Logger, window_s: float,
                 clock: Callable[[], float] = time.time, grace_s: float = RELEASE_GRACE_S) -> None:
        self._bridge = bridge
        self._pricer = pricer
        self._log = log
        self._window_s = window_s
        self._clock = clock
        self._grace_s = grace_s
        # Loop side (the NATS thread) writes these; greenlets only read them.
        self._records: dict[str, BalanceRecord] = {}
        self._unapplied: dict[str, Unapplied] = {}
        self._seen: dict[str, None] = {}  # insertion-ordered: the oldest are dropped first
        # Greenlet side (and popped by the loop): holds waiting for their usage event.
        self._releases: dict[str, tuple[Reservation, float]] = {}  # request id -> (hold, ended at)
        self._local: dict[str, int] = {}  # this process's holds, when the counter is unreachable
        self._previous_seen: dict[str, tuple[int, float]] = {}  # subject -> (holds, read at)
        self._monotonic = time.monotonic
        self._sweeper: gevent.Greenlet[[], None] | None = None
        self._mirror = KVMirror(BALANCES_BUCKET, self._apply, log)

    # ------------------------------------------------------------------ loop side

    async def watch(self, nc: Client) -> None:
        """(asyncio) Load the balances, then follow them and USAGE from the applied floor."""
        js = nc.jetstream()
        await natsbus.ensure_holds_stream(js, self._window_s)
        await self._mirror.start(await natsbus.balances_bucket(js))
        # Everything up to the highest floor any record names is in the records already.
        floor = max((r.through_seq for r in self._records.values()), default=0)
        await natsbus.ensure_usage_stream(js)
        # PERF: metered keys' usage and credits only: unmetered traffic never reaches here
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=floor + 1,
                                filter_subjects=[USAGE_METERED_SUBJECT, CREDIT_SUBJECT])

        async def on_msg(msg: Msg) -> None:
            self.on_event(msg.subject, msg.data, msg.metadata.sequence.stream, nc)

        await js.subscribe(USAGE_METERED_SUBJECT, stream=USAGE_STREAM, cb=on_msg, ordered_consumer=True,
                           config=config)

    def _apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            return  # NOTE: the ledger never deletes a balance; a purge leaves the last figure
        try:
            self.on_record(BALANCE_DECODER.decode(value))
        except msgspec.DecodeError:
            self._log.error("bad_balance_record", key=key)

    def on_record(self, record: BalanceRecord) -> None:
        """A balance the ledger published: its events up to `through_seq` drop out."""
        self._records[record.key_id] = record
        unapplied = self._unapplied.get(record.key_id)
        if unapplied is None:
            if record.credit_micro_usd > 0:
                self._unapplied[record.key_id] = Unapplied()
            return
        # NOTE: a record without `through_seq` (0: a ledger older than this gateway) drops
        # nothing, so the key's events count twice until a new ledger runs: refused early,
        # never overspent
        unapplied.applied_through(record.through_seq)

    def on_event(self, subject: str, data: bytes, seq: int, nc: Client | None = None) -> None:
        """One USAGE message (a metered key's usage, or a credit) at stream sequence `seq`."""
        try:
            key_id = _KEY_ONLY.decode(data).key_id
            unapplied = self._unapplied.get(key_id)
            if subject == CREDIT_SUBJECT:
                amount = -CREDIT_DECODER.decode(data).amount_micro_usd
                if unapplied is None:
                    unapplied = self._unapplied[key_id] = Unapplied()  # credited: from now on followed
            elif subject == USAGE_METERED_SUBJECT:
                # NOTE: its key's credit came first on the stream, so it is known by now
                if unapplied is None:
                    unapplied = self._unapplied[key_id] = Unapplied()
                event = USAGE_DECODER.decode(data)
                amount = self._pricer.cost(event).micro_usd
                self._seen_id(event.request_id, nc)
            else:
                return  # an unmetered key's usage (not followed; tests feed it here)
        except msgspec.DecodeError:
            return  # the ledger keeps it as rejected; nothing to count
        record = self._records.get(key_id)
        if record is not None and seq <= record.through_seq:
            return  # already in the record
        unapplied.add(seq, amount)

    def _seen_id(self, request_id: str, nc: Client | None) -> None:
        seen = self._seen
        seen[request_id] = None
        if len(seen) > SEEN_IDS:
            del seen[next(iter(seen))]
        waiting = self._releases.pop(request_id, None)
        if waiting is not None and nc is not None:
            asyncio.ensure_future(self._give_back(nc, waiting[0]))

    async def _give_back(self, nc: Client, reservation: Reservation) -> None:
        if reservation.subject is None:
            return
        try:
            await nc.publish(reservation.subject, b"", headers={INCR_HEADER: f"-{reservation.micro_usd}"})
        except nats.errors.Error as ex:
            self._log.warning("hold_release_failed", key_id=reservation.key_id, error=type(ex).__name__)

    def _hold(self, key_id: str, window: int, micro_usd: int) -> int:
        """Add to this window's holds; the total of this and the previous window.

        PERF: both are plain requests on the bridge's batched, multiplexed path (no task on
        the loop per admission): the counter's increment answers with the new total, and
        a direct get answers with the previous window's last value (empty if none). The
        previous window only shrinks (nobody admits into a past window), so a figure
        read in the last PREVIOUS_TTL_S is used as it is (at worst it still counts holds
        given back since: refused early, never overspent), and once 0 it stays 0.
        """
        current = self._bridge.request(hold_subject(key_id, window), b"", {INCR_HEADER: f"+{micro_usd}"})
        previous_subject = hold_subject(key_id, window - 1)
        now = self._monotonic()
        cached = self._previous_seen.get(previous_subject)
        fresh = cached is not None and (cached[0] == 0 or now - cached[1] < PREVIOUS_TTL_S)
        previous = None if fresh else self._bridge.request(f"{DIRECT_GET}.{previous_subject}", b"")
        try:
            total = self._value(current.get(HOLD_TIMEOUT_S))
            if previous is None:
                assert cached is not None
                return total + cached[0]
            before = self._value(previous.get(HOLD_TIMEOUT_S))
        finally:
            current.close()
            if previous is not None:
                previous.close()
        if len(self._previous_seen) > 100_000:
            self._previous_seen.clear()  # NOTE: bounded; a dropped figure is only read again
        self._previous_seen[previous_subject] = (before, now)
        return total + before

    @staticmethod
    def _value(data: object) -> int:
        if not isinstance(data, bytes):
            raise ConnectionError("the holds counter has no responder")
        value = _VALUE.decode(data or b"{}")
        if value.error is not None:
            raise ConnectionError(f"the holds counter refused: {value.error}")
        return int(value.val)

    # ------------------------------------------------------------------ request side

    def worst_case(self, model: ModelConfig, prompt_tokens: int, output_tokens: int) -> int:
        """Micro-dollars a request may cost, by the ledger's own formula (runtime/pricing)."""
        return self._pricer.worst_case(model, prompt_tokens, output_tokens)

    def available(self, key_id: str) -> int | None:
        """Credit minus applied and unapplied spend; None when nothing is known yet."""
        record = self._records.get(key_id)
        unapplied = self._unapplied.get(key_id)
        if record is None and unapplied is None:
            return None
        credit, spent = (record.credit_micro_usd, record.spent_micro_usd) if record else (0, 0)
        return credit - spent - (unapplied.total if unapplied else 0)

    def admit(self, key: KeyRecord, cost_micro: int) -> Reservation | None:
        """Hold `cost_micro` or raise 429; None for unmetered keys (no check at all)."""
        if not key.metered:
            return None
        window = int(self._clock() // self._window_s)
        subject: str | None = hold_subject(key.id, window)
        local = self._local.get(key.id, 0) + cost_micro
        self._local[key.id] = local
        try:
            if not self._bridge.ready:
                raise ConnectionError("not connected to NATS")
            held = self._hold(key.id, window, cost_micro)
        except (ConnectionError, gevent.queue.Empty, msgspec.DecodeError, ValueError) as ex:
            self._log.warning("holds_unavailable", key_id=key.id, error=type(ex).__name__)
            held, subject = local, None
        reservation = Reservation(key.id, cost_micro, subject)
        available = self.available(key.id)
        # NOTE: nothing known yet (a key credited a moment ago, before this process saw
        # the credit on USAGE): let it through, so a key works at once.
        if available is not None and available - (held - cost_micro) <= 0:
            self.release(reservation)
            raise insufficient_quota(
                "This API key's balance is used up; add credit with `scripts/keys credit`."
            )
        return reservation

    def release(self, reservation: Reservation | None, request_id: str | None = None) -> None:
        """The request ended (`request_id`: its last attempt's id) or never started.

        Its hold is given back once its usage event is counted in the unapplied spend,
        so the cost is never in neither; at the latest after the grace period."""
        if reservation is None:
            return
        left = self._local.get(reservation.key_id, 0) - reservation.micro_usd
        if left > 0:
            self._local[reservation.key_id] = left
        else:
            self._local.pop(reservation.key_id, None)
        if request_id is None or request_id in self._seen:
            self._give_back_now(reservation)
            return
        self._releases[request_id] = (reservation, self._monotonic())
        if self._sweeper is None:
            self._sweeper = gevent.spawn(self._sweep)

    def _sweep(self) -> None:
        """(greenlet) Give back the holds whose usage event did not come within the grace."""
        while True:
            gevent.sleep(min(SWEEP_S, self._grace_s))
            self.expire(self._monotonic() - self._grace_s)

    def expire(self, ended_before: float) -> None:
        """Give back the holds of requests that ended before `ended_before` with no event seen."""
        for request_id, (_, ended) in list(self._releases.items()):
            if ended < ended_before:
                waiting = self._releases.pop(request_id, None)
                if waiting is not None:
                    self._give_back_now(waiting[0])

    def _give_back_now(self, reservation: Reservation) -> None:
        if reservation.subject is not None:
            self._bridge.publish(reservation.subject, b"", {INCR_HEADER: f"-{reservation.micro_usd}"})
