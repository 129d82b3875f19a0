"""The bus protocol between gateways, workers and the ledger.

Request path (core NATS): the gateway publishes a `Job` (msgpack) to `chat_subject(p)` or
`embed_subject(p)` with a reply subject on its own multiplexed inbox; a worker of the
queue group `worker_queue(p)` answers with `Frame`s, in order, on that reply subject:
`chunk`* then `done` for a stream, one `result` otherwise (it carries the usage, so no
`done` follows; a body larger than a bus message comes as `result_part`s, then the
`result` with the last piece), or `error` at any point (which ends the job). `heartbeat` frames keep a
slow upstream apart from a dead worker. The gateway publishes `Cancel` to `cancel_subject(request_id)` when
its client goes away.

Money path (JetStream): workers publish a `UsageEvent` (JSON) to `USAGE_SUBJECT` with
`Nats-Msg-Id` = request id (to `USAGE_METERED_SUBJECT` when the job's key is metered,
so gateways follow those alone); credits go to `CREDIT_SUBJECT`. Both live in the stream
`USAGE_STREAM`, which the ledger consumes.

New fields always get defaults (schema evolution for rolling upgrades); unknown fields
are ignored, never forbidden.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct

from gateway.contracts.config import GeminiModelFlags
from gateway.contracts.errors import OpenAIError
from gateway.contracts.openai import Usage

USAGE_STREAM = "USAGE"
USAGE_SUBJECT = "usage.request"
USAGE_METERED_SUBJECT = "usage.metered"  # the usage of metered keys: gateways follow it
CREDIT_SUBJECT = "usage.credit"
USAGE_SUBJECTS = ["usage.>"]
KEYS_BUCKET = "keys"
BALANCES_BUCKET = "balances"
LIMITS_STREAM = "LIMITS"
LIMITS_SUBJECTS = ["limits.>"]
HOLDS_STREAM = "HOLDS"  # what admitted requests of metered keys hold against their credit
HOLDS_SUBJECTS = ["holds.>"]
USAGE_DUPLICATE_WINDOW_S = 600.0
CANCEL_PREFIX = "llm.cancel."
PING_PREFIX = "llm.ping."
MSG_ID_HEADER = "Nats-Msg-Id"


def usage_stream_settings() -> dict[str, Any]:
    """The USAGE stream's settings: every process creates it from these, so the
    (idempotent) creation never fails on a config that drifted in one place."""
    return {"name": USAGE_STREAM, "subjects": USAGE_SUBJECTS, "duplicate_window": USAGE_DUPLICATE_WINDOW_S}


def chat_subject(provider: str) -> str:
    """Subject on which workers of `provider` take chat jobs."""
    return f"llm.chat.{provider}"


def embed_subject(provider: str) -> str:
    """Subject on which workers of `provider` take embedding jobs."""
    return f"llm.embed.{provider}"


def worker_queue(provider: str) -> str:
    """Queue group shared by all workers of `provider`."""
    return f"workers.{provider}"


def cancel_subject(request_id: str) -> str:
    """Subject on which the gateway cancels one request."""
    return f"{CANCEL_PREFIX}{request_id}"


def limit_subject(kind: str, key_id: str, window: int) -> str:
    """Counter subject of one key's `kind` ("rpm" or "tpm") in one minute `window`."""
    return f"limits.{kind}.{key_id}.{window}"


def hold_subject(key_id: str, window: int) -> str:
    """Counter subject of what one key's requests admitted in `window` hold (micro-USD)."""
    return f"holds.{key_id}.{window}"


def ping_subject(provider: str) -> str:
    """Subject a worker answers on once it serves `provider` (readiness probes)."""
    return f"{PING_PREFIX}{provider}"


class Job(Struct, kw_only=True):
    """One request for a worker: the validated caller body plus where it goes."""

    request_id: str
    key_id: str
    key_name: str = ""
    op: str  # "chat" | "embed"
    model: str  # the gateway's public model id, shown to the caller
    provider: str
    upstream_model: str
    body: bytes  # the caller's JSON body exactly as received
    stream: bool = False
    include_usage: bool = False
    deadline: float  # unix time after which nobody waits for this job
    max_output_tokens: int | None = None
    gemini: GeminiModelFlags | None = None  # the model entry's Gemini flags, if any
    # Claude capability flags of the model entry (ModelConfig.thinking / prompt_cache).
    thinking: str = "budget"
    prompt_cache: str = "off"
    metered: bool = False  # the key has credit: its usage goes to USAGE_METERED_SUBJECT


class Chunk(Struct, tag="chunk"):
    """One encoded OpenAI chunk (JSON bytes), ready to write after `data: `."""

    data: bytes


class ResultPart(Struct, tag="result_part"):
    """A leading piece of a result too large for one bus message; the `result` ends it."""

    data: bytes


class Result(Struct, tag="result"):
    """A whole encoded non-stream response body (JSON bytes) and its billed usage."""

    data: bytes
    usage: Usage | None = None


class Error(Struct, tag="error"):
    """An error with its HTTP status; after chunks it becomes an SSE error event."""

    status: int
    error: OpenAIError
    retry_after: str | None = None


class Done(Struct, tag="done"):
    """The end of a job, with the usage billed for it."""

    usage: Usage | None = None


class Heartbeat(Struct, tag="heartbeat"):
    """The worker is alive and waiting on the upstream."""


Frame = Chunk | ResultPart | Result | Error | Done | Heartbeat


class Cancel(Struct):
    """The caller went away: stop the upstream call."""

    request_id: str


class UsageEvent(Struct, kw_only=True):
    """What one request spent; the ledger bills from these."""

    request_id: str
    key_id: str
    key_name: str = ""
    model: str
    provider: str
    upstream_model: str = ""
    op: str = "chat"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0  # part of prompt_tokens, written to the provider's cache
    estimated: bool = False
    status: str = "ok"  # "ok" | "error" | "cancelled"
    error_code: str | None = None
    stream: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0
    # "worker" (the real count) or "gateway" (a failure record when the worker vanished;
    # published under msg id `<request_id>:gateway`; a worker event replaces it).
    source: str = "worker"
    metered: bool = False  # published on USAGE_METERED_SUBJECT (gateways count it at once)


class CreditEvent(Struct, kw_only=True):
    """A top-up of a key's balance, in integer micro-dollars."""

    event_id: str
    key_id: str
    key_name: str = ""
    amount_micro_usd: int
    at: float = 0.0


class KeyRecord(Struct, kw_only=True):
    """A key as stored in the `keys` bucket under the SHA-256 hex of its secret."""

    id: str
    name: str
    hash: str
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])
    rpm: int | None = None
    tpm: int | None = None
    disabled: bool = False
    created_at: float = 0.0
    metered: bool = False  # True once the key was given credit: balance is enforced


class BalanceRecord(Struct, kw_only=True):
    """A key's balance as the ledger derived it, in the `balances` bucket under the key id."""

    key_id: str
    key_name: str = ""
    credit_micro_usd: int = 0
    spent_micro_usd: int = 0
    balance_micro_usd: int = 0
    updated_at: float = 0.0
    # Every USAGE message up to this stream sequence is in the figures above (the ledger's
    # ack floor when it published them); gateways count the key's later events themselves.
    through_seq: int = 0


JOB_ENCODER = msgspec.msgpack.Encoder()
JOB_DECODER = msgspec.msgpack.Decoder(Job)
FRAME_ENCODER = msgspec.msgpack.Encoder()
FRAME_DECODER = msgspec.msgpack.Decoder(Frame)
CANCEL_DECODER = msgspec.msgpack.Decoder(Cancel)
EVENT_ENCODER = msgspec.json.Encoder()
USAGE_DECODER = msgspec.json.Decoder(UsageEvent)
CREDIT_DECODER = msgspec.json.Decoder(CreditEvent)
KEY_DECODER = msgspec.json.Decoder(KeyRecord)
BALANCE_DECODER = msgspec.json.Decoder(BalanceRecord)
