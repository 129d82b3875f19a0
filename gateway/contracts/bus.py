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

import re
import base64
from typing import Any

import msgspec
from msgspec import Struct

from gateway.contracts.config import ModelOptions
from gateway.contracts.errors import OpenAIError
from gateway.contracts.openai import Usage

USAGE_STREAM = "USAGE"
USAGE_SUBJECT = "usage.request"
USAGE_METERED_SUBJECT = "usage.metered"  # the usage of metered keys: gateways follow it
CREDIT_SUBJECT = "usage.credit"
USAGE_SUBJECTS = ["usage.>"]
KEYS_BUCKET = "keys"
BALANCES_BUCKET = "balances"
RESPONSES_BUCKET = "responses"  # stored /v1/responses (issue 13): `<key id>.<response id>`
COOLDOWNS_BUCKET = "cooldowns"  # deployments no gateway may send traffic to for a while
LOAD_PREFIX = "llm.load."  # workers' in-flight counts and latencies, per provider
LIMITS_STREAM = "LIMITS"
LIMITS_SUBJECTS = ["limits.>"]
HOLDS_STREAM = "HOLDS"  # what admitted requests of metered keys hold against their credit
HOLDS_SUBJECTS = ["holds.>"]
USAGE_DUPLICATE_WINDOW_S = 600.0
CANCEL_PREFIX = "llm.cancel."
PING_PREFIX = "llm.ping."
STATUS_PREFIX = "status."
MSG_ID_HEADER = "Nats-Msg-Id"
# The response header naming the parameters the model refuses that were left out (the
# caller's names, comma-separated; gateway/contracts/model_rules.py).
DROPPED_PARAMS_HEADER = "x-gateway-dropped-params"


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


_STORE_KEY = re.compile(r"[A-Za-z0-9_-]{1,200}")


def response_store_key(key_id: str, response_id: str) -> str | None:
    """The `responses` bucket key of one stored response, scoped to the API key that made
    it (another key's lookup misses); None for an id no stored response can have."""
    if not (_STORE_KEY.fullmatch(key_id) and _STORE_KEY.fullmatch(response_id)):
        return None
    return f"{key_id}.{response_id}"


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


PONG = b"pong"
MISSING_SECRET = b"missing-secret "


def pong(missing_variable: str | None) -> bytes:
    """A worker's answer to a ping: `pong`, or the variable its provider's secret lacks
    (the gateway holds no secrets: it learns this from the workers)."""
    return PONG if missing_variable is None else MISSING_SECRET + missing_variable.encode()


def missing_secret(answer: bytes) -> str | None:
    """The variable a ping's answer says is missing, if any."""
    return answer[len(MISSING_SECRET):].decode() if answer.startswith(MISSING_SECRET) else None


def status_subject(role: str) -> str:
    """Subject on which every process of `role` answers a status request (scripts/status)."""
    return f"{STATUS_PREFIX}{role}"


class Job(Struct, kw_only=True):
    """One request for a worker: the validated caller body plus where it goes."""

    request_id: str
    key_id: str
    key_name: str = ""
    op: str  # "chat" | "embed" | "count_tokens" (messages dialect)
    model: str  # the gateway's public model id, shown to the caller
    provider: str
    upstream_model: str
    body: bytes  # the caller's JSON body exactly as received
    stream: bool = False
    include_usage: bool = False
    deadline: float  # unix time after which nobody waits for this job
    # The model entry's options for its provider (ModelConfig.options()), carried whole.
    options: ModelOptions = msgspec.field(default_factory=ModelOptions)
    # The inbound dialect the gateway served (its route): "chat", "messages" or
    # "responses"; workers convert through `workers/dialects/<dialect>/` when not "chat".
    dialect: str = "chat"
    # -- messages dialect: `anthropic-beta` as the caller sent it, kept on pass-through.
    anthropic_beta: str = ""
    deployment: str = ""  # the model's deployment picked for this attempt (issue 16)
    metered: bool = False  # the key has credit: its usage goes to USAGE_METERED_SUBJECT


class Chunk(Struct, tag="chunk", omit_defaults=True):
    """One encoded OpenAI chunk (JSON bytes), ready to write after `data: `."""

    data: bytes
    # On a job's first chunk: the parameters the model refuses that the worker left out
    # (the caller's names), for the `x-gateway-dropped-params` header.
    dropped_params: list[str] | None = None


class ResultPart(Struct, tag="result_part"):
    """A leading piece of a result too large for one bus message; the `result` ends it."""

    data: bytes


class Result(Struct, tag="result", omit_defaults=True):
    """A whole encoded non-stream response body (JSON bytes) and its billed usage."""

    data: bytes
    usage: Usage | None = None
    dropped_params: list[str] | None = None  # as on Chunk


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


CANCEL_CLIENT = "client"  # the caller went away
CANCEL_SHUTDOWN = "shutdown"  # the gateway is stopping and cut the request at its grace
WORKER_SHUTDOWN = "worker_shutdown"  # (within a worker) its own grace is over: cut the job


class Cancel(Struct):
    """Stop the upstream call: the caller went away, or the gateway cut it at shutdown."""

    request_id: str
    reason: str = CANCEL_CLIENT  # CANCEL_SHUTDOWN: the job is billed with status "cut"


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
    status: str = "ok"  # "ok" | "error" | "cancelled" | "cut" (ended by a shutdown's grace)
    error_code: str | None = None
    stream: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0
    # "worker" (the real count) or "gateway" (a failure record when the worker vanished;
    # published under msg id `<request_id>:gateway`; a worker event replaces it).
    source: str = "worker"
    # The model's deployment that served this attempt (issue 16); "" before routing existed.
    deployment: str = ""
    metered: bool = False  # published on USAGE_METERED_SUBJECT (gateways count it at once)


def usage_event(job: Job, usage: Usage | None, *, estimated: bool, status: str, error_code: str | None,
                started_at: float, finished_at: float, source: str = "worker") -> UsageEvent:
    """The UsageEvent of `job` (its key, model, route and op copied), spending `usage`.

    The worker's real count and the gateway's failure record (source "gateway") are both
    made here. Only the worker's event is metered: the gateway's record is published on
    the plain usage subject (gateway/relay.py) and replaced by the worker's if that comes.
    """
    usage = usage or Usage()
    return UsageEvent(
        request_id=job.request_id, key_id=job.key_id, key_name=job.key_name, model=job.model,
        provider=job.provider, upstream_model=job.upstream_model, op=job.op,
        prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
        cached_tokens=usage.cached_tokens(), cache_write_tokens=usage.cache_write_tokens(),
        estimated=estimated, status=status, error_code=error_code, stream=job.stream,
        started_at=started_at, finished_at=finished_at, source=source, deployment=job.deployment,
        metered=job.metered and source == "worker",
    )


class CooldownRecord(Struct, kw_only=True):
    """A deployment cooling down, in the `cooldowns` bucket under `cooldown_key(...)`.

    Written by the gateway process that saw it fail; every gateway follows the bucket and
    sends it no traffic before `until` (unix time). Issue 16.
    """

    provider: str
    upstream_model: str
    until: float
    reason: str = "failing"  # "rate_limited" (a 429's retry-after) | "failing" (N failures)
    status: int = 0  # the HTTP status that cooled it
    at: float = 0.0


class DeploymentLoad(Struct, kw_only=True):
    """One upstream model of a provider, as one worker sees it."""

    upstream_model: str
    in_flight: int = 0
    latency_ms: float | None = None  # recent time to first output (EWMA); None: no sample yet


class LoadReport(Struct, kw_only=True):
    """What one worker reports every `[routing] load_report_s` on `load_subject(provider)`."""

    worker: str
    provider: str
    deployments: list[DeploymentLoad] = []
    at: float = 0.0


def load_subject(provider: str) -> str:
    """Subject on which workers report their load for `provider`."""
    return f"{LOAD_PREFIX}{provider}"


def cooldown_key(provider: str, upstream_model: str) -> str:
    """The bucket key of one deployment (a provider account and an upstream model).

    NOTE: base64url, because upstream model ids may hold characters KV keys may not.
    """
    raw = f"{provider}/{upstream_model}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


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


class ProcessStatus(Struct, kw_only=True):
    """One process's answer to a status request (`status_subject(role)`)."""

    role: str  # "gateway" | "worker" | "ledger"
    id: str  # host:pid
    version: str
    started_at: float
    uptime_s: float
    in_flight: int = 0  # requests (gateway) or jobs (worker) running now
    open_streams: int = 0  # gateway: SSE streams open now
    providers: list[str] = []  # worker: the providers it serves
    missing_secrets: dict[str, str] = {}  # worker: provider -> the unset variable its secret is read from
    pending_events: int | None = None  # ledger: USAGE events its consumer has not taken yet
    last_commit_at: float | None = None  # ledger: unix time of the last committed batch
    day: str = ""  # ledger: the UTC day of `spend_today`
    spend_today: dict[str, str] = {}  # ledger: key name -> USD spent that day


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
COOLDOWN_DECODER = msgspec.json.Decoder(CooldownRecord)
LOAD_DECODER = msgspec.json.Decoder(LoadReport)
STATUS_DECODER = msgspec.json.Decoder(ProcessStatus)
