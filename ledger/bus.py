"""The ledger's NATS side: connection, the USAGE stream, its consumers, message metadata."""

from __future__ import annotations


from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError

from gateway.runtime import natsbus
from gateway.contracts.bus import USAGE_STREAM, USAGE_SUBJECTS
from gateway.contracts.config import LedgerSettings
from gateway.contracts.log import Logger
from ledger.entries import Entry, to_entry
from gateway.runtime.pricing import Pricer

DURABLE = "ledger"
USAGE_FILTER = USAGE_SUBJECTS[0]  # usage events and credits alike
# Room for one crashed instance's unacked batch beside the batches of its successor.
ACK_PENDING_BATCHES = 4
REPLAY_INACTIVE_S = 60.0


async def connect(log: Logger, wait_s: float | None = None) -> Client:
    """Connect as the ledger, waiting for NATS (`wait_s` None: forever)."""
    return await natsbus.connect("ledger", log=log, wait_s=wait_s)


async def durable_subscription(js: JetStreamContext, settings: LedgerSettings,
                               log: Logger) -> JetStreamContext.PullSubscription:
    """The ledger's durable pull consumer, created or updated to the configured ack wait."""
    config = ConsumerConfig(
        name=DURABLE, durable_name=DURABLE, deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_s, max_ack_pending=settings.batch_size * ACK_PENDING_BATCHES,
        filter_subject=USAGE_FILTER,
    )
    try:
        await js.add_consumer(USAGE_STREAM, config)  # creates, or updates an existing durable
    except BadRequestError as ex:
        log.warning("ledger_consumer_kept", error=str(ex))  # a non-editable difference: use it as it is
    return await js.pull_subscribe_bind(durable=DURABLE, stream=USAGE_STREAM)


async def replay_subscription(js: JetStreamContext) -> JetStreamContext.PullSubscription:
    """An ephemeral consumer from the first message, no acks (for `--rebuild`)."""
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE,
                            inactive_threshold=REPLAY_INACTIVE_S)
    return await js.pull_subscribe(USAGE_FILTER, stream=USAGE_STREAM, config=config)


def entry_of(msg: Msg, pricer: Pricer) -> Entry:
    """The ledger entry of one JetStream message."""
    meta = msg.metadata
    return to_entry(msg.subject, msg.data, meta.sequence.stream, meta.timestamp.timestamp(), pricer)
