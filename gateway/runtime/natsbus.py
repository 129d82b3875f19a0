"""The one home of NATS set-up: roles and their credentials, connecting, every stream and bucket.

The bus is not open. Every process connects as one role, and the server lets each role
publish and subscribe only where its job needs it:

- `gateway`: publishes jobs, cancels, pings, its own usage events, limit and hold
  counters; reads the `keys` and `balances` buckets; follows `USAGE` through ephemeral
  ordered consumers only (it can neither ack nor touch the ledger's durable); receives
  job replies on `_GW.>`; reads and writes the `cooldowns` bucket (it sees every
  attempt's outcome in the frames, so it is the one that cools a deployment); follows
  the workers' load reports (`llm.load.*`).
- every role but the operator answers status requests on its own `status.<role>` only.
- `worker`: takes jobs (`llm.chat/embed/ping.<provider>`, cancels); answers on `_GW.>`
  and to pings; publishes usage events and its load reports. It cannot read keys or
  publish credits, and cannot touch cooldowns.
- `gateway` and `worker` both use the `responses` bucket (stored `/v1/responses`) by key
  only, never by watch: the worker reads a `previous_response_id` and writes what it
  answered; the gateway reads for `GET /v1/responses/{id}` and writes delete markers for
  `DELETE` (a KV delete is a put, so both hold `$KV.responses.>`). The ledger has no access.
- `ledger`: the only consumer of `USAGE`; writes the `balances` bucket.
- `operator`: scripts/keys, scripts/run's launcher and the tests: the administrator,
  allowed everything (the only role that writes `keys` and publishes credits).

The embedded server's credentials are made at its first start (`ensure_credentials`):
one random password per role, in files of mode 0600 under `GATEWAY_DATA_DIR/nats-auth/`,
never printed. With `NATS_URL` (an operator's own server), a role's credentials come from
the environment: `NATS_<ROLE>_CREDS` (a NATS creds file: JWT + nkey) or
`NATS_<ROLE>_USER` / `NATS_<ROLE>_PASSWORD`; `python -m gateway.runtime.natsbus` prints the
server-side `authorization` block to paste. Each role also gets its own inbox prefix, so
no role can subscribe to another's replies.

A cluster: `NATS_URL` may list several servers, comma-separated (a client also learns the
cluster's other servers from the one it reaches, and fails over to them); every node needs
the same `authorization` block. `NATS_REPLICAS` (default 1; 3 on a 3-node cluster) is the
replica count of every stream and bucket made here, so JetStream keeps usage, keys and
balances through the loss of a node (README, "Scaling out").
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from gateway.contracts.bus import (
    BALANCES_BUCKET,
    COOLDOWNS_BUCKET,
    HOLDS_STREAM,
    HOLDS_SUBJECTS,
    KEYS_BUCKET,
    RESPONSES_BUCKET,
    LOAD_PREFIX,
    LIMITS_STREAM,
    status_subject,
    LIMITS_SUBJECTS,
    USAGE_METERED_SUBJECT,
    USAGE_STREAM,
    USAGE_SUBJECT,
    usage_stream_settings,
)
from gateway.contracts.config import data_dir, nats_url
from gateway.contracts.environment import environment
from gateway.contracts.log import Logger

ROLES = ("gateway", "worker", "ledger", "operator")
JOB_REPLY_PREFIX = "_GW"  # the gateway's job-reply inbox: `_GW.<process>.<token>`


def servers(url: str) -> list[str]:
    """The servers of a `NATS_URL` (one URL, or several comma-separated)."""
    return [part.strip() for part in url.split(",") if part.strip()]


def replicas() -> int:
    """`NATS_REPLICAS`: the replica count of every stream and bucket (1..5, default 1)."""
    return environment().nats_replicas


def inbox_prefix(role: str) -> str:
    """Where a role's own request replies (JetStream API answers, pings) arrive."""
    return f"_INBOX_{role}"


def _kv(bucket: str) -> str:
    return f"KV_{bucket}"


def _read_stream(stream: str) -> list[str]:
    """What reading one stream (or bucket) by watch, get and info takes."""
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.CONSUMER.CREATE.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}.>",
        f"$JS.API.CONSUMER.DELETE.{stream}.>",
        f"$JS.API.CONSUMER.INFO.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def _get_by_key(bucket: str) -> list[str]:
    """Opening a bucket, getting and putting (or deleting) values by key: no watch, no listing."""
    stream = _kv(bucket)
    return [
        *_create_stream(stream), f"$JS.API.STREAM.MSG.GET.{stream}", f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>", f"$KV.{bucket}.>",
    ]


def _create_stream(stream: str) -> list[str]:
    """Creating a stream with the one config below (idempotent) and asking after it."""
    return [f"$JS.API.STREAM.CREATE.{stream}", f"$JS.API.STREAM.INFO.{stream}"]


def permissions(role: str) -> dict[str, Any]:
    """The NATS permissions of a role (the server's `permissions` block, as data)."""
    if role == "operator":
        return {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}
    own_inbox = f"{inbox_prefix(role)}.>"
    if role == "gateway":
        publish = [
            "llm.chat.*", "llm.embed.*", "llm.cancel.*", "llm.ping.*", USAGE_SUBJECT, "limits.>", "holds.>",
            *_create_stream(USAGE_STREAM), *_create_stream(LIMITS_STREAM), *_create_stream(HOLDS_STREAM),
            f"$JS.API.DIRECT.GET.{LIMITS_STREAM}.>", f"$JS.API.DIRECT.GET.{HOLDS_STREAM}.>",
            # NOTE: the unnamed create subject makes ephemeral consumers only (the server
            # refuses a durable name there), so the gateway can read spend the ledger has
            # not applied yet but never ack, edit or delete the ledger's durable.
            f"$JS.API.CONSUMER.CREATE.{USAGE_STREAM}", f"$JS.FC.{USAGE_STREAM}.>",
            *_create_stream(_kv(KEYS_BUCKET)), *_read_stream(_kv(KEYS_BUCKET)),
            *_create_stream(_kv(BALANCES_BUCKET)), *_read_stream(_kv(BALANCES_BUCKET)),
            *_get_by_key(RESPONSES_BUCKET),
            *_create_stream(_kv(COOLDOWNS_BUCKET)), *_read_stream(_kv(COOLDOWNS_BUCKET)),
            f"$KV.{COOLDOWNS_BUCKET}.>",
        ]
        subscribe = [own_inbox, f"{JOB_REPLY_PREFIX}.>", f"{LOAD_PREFIX}*", status_subject("gateway")]
        # NOTE: allow_responses lets it answer a status request at the operator's inbox, once
        return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}, "allow_responses": True}
    if role == "worker":
        publish = [f"{JOB_REPLY_PREFIX}.>", USAGE_SUBJECT, USAGE_METERED_SUBJECT, *_create_stream(USAGE_STREAM),
                   *_get_by_key(RESPONSES_BUCKET), f"{LOAD_PREFIX}*"]
        subscribe = [own_inbox, "llm.chat.*", "llm.embed.*", "llm.ping.*", "llm.cancel.*", status_subject("worker")]
        # NOTE: allow_responses lets a worker answer a ping or a status request at its sender's inbox, once
        return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}, "allow_responses": True}
    if role == "ledger":
        durable = f"{USAGE_STREAM}.>"
        publish = [
            *_create_stream(USAGE_STREAM),
            f"$JS.API.CONSUMER.CREATE.{USAGE_STREAM}", f"$JS.API.CONSUMER.CREATE.{durable}",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{durable}", f"$JS.API.CONSUMER.INFO.{durable}",
            f"$JS.API.CONSUMER.DELETE.{durable}", f"$JS.API.CONSUMER.MSG.NEXT.{durable}",
            f"$JS.ACK.{durable}", f"$JS.FC.{durable}",
            *_create_stream(_kv(BALANCES_BUCKET)), f"$KV.{BALANCES_BUCKET}.>",
        ]
        subscribe = [own_inbox, status_subject("ledger")]
        return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}, "allow_responses": True}
    raise ValueError(f"unknown NATS role '{role}' (one of {', '.join(ROLES)})")


def authorization_block(passwords: dict[str, str]) -> str:
    """The nats-server `authorization` block: one user per role with its permissions."""
    users = []
    for role in ROLES:
        user = {"user": role, "password": passwords[role], "permissions": permissions(role)}
        users.append("    " + json.dumps(user))
    return "authorization {\n  users = [\n" + ",\n".join(users) + "\n  ]\n}\n"


def ensure_credentials(folder: Path) -> dict[str, str]:
    """Each role's password, made on first use into `folder/<role>.json` (mode 0600)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    passwords = {}
    for role in ROLES:
        path = folder / f"{role}.json"
        if not path.exists():
            record = {"user": role, "password": secrets.token_urlsafe(32)}
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                json.dump(record, out)
        passwords[role] = json.loads(path.read_text(encoding="utf-8"))["password"]
    return passwords


def credentials_dir() -> Path:
    """Where the embedded server's role credentials live."""
    return data_dir() / "nats-auth"


def connect_options(role: str, folder: Path | None = None) -> dict[str, Any]:
    """nats.connect() arguments that authenticate as `role` (none found: unauthenticated).

    `folder` holds the embedded server's credentials (default: under GATEWAY_DATA_DIR).
    """
    if role not in ROLES:
        raise ValueError(f"unknown NATS role '{role}' (one of {', '.join(ROLES)})")
    options: dict[str, Any] = {"inbox_prefix": inbox_prefix(role)}
    creds, user, password = environment().nats_login(role)
    if creds:
        return {**options, "user_credentials": creds}
    if user:
        return {**options, "user": user, "password": password}
    stored = (folder or credentials_dir()) / f"{role}.json"
    if stored.exists():
        record = json.loads(stored.read_text(encoding="utf-8"))
        return {**options, "user": record["user"], "password": record["password"]}
    return options


async def _quiet(_ex: Exception) -> None:
    """For connection attempts that are expected to fail while NATS starts."""


async def connect(
    role: str,
    *,
    name: str | None = None,
    log: Logger | None = None,
    url: str | None = None,
    wait_s: float | None = 120.0,
    **extra: Any,
) -> Client:
    """Connect as `role`, waiting up to `wait_s` (None: forever) for NATS to come up.

    Once connected the client reconnects forever. Failed first attempts are logged once a
    few seconds have passed (the stack starts in any order, so a moment's wait is normal);
    a refused login is final at once: retrying cannot fix credentials.
    """
    target = url or nats_url()
    started = time.monotonic()
    logged_at = 0.0
    delay = 0.1
    while True:
        try:
            return await nats.connect(
                servers(target), name=name or role, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=2,
                allow_reconnect=True, error_cb=log.nats_error_callback() if log else _quiet,
                **connect_options(role), **extra,
            )
        except (OSError, nats.errors.Error, asyncio.TimeoutError) as ex:
            if "authorization" in str(ex).lower():
                raise PermissionError(f"NATS refused the '{role}' credentials: {ex}") from ex
            waited = time.monotonic() - started
            if wait_s is not None and waited > wait_s:
                raise
            if log is not None and waited > 3.0 and waited - logged_at > 10.0:
                logged_at = waited
                log.warning("nats_connect_retry", url=target, role=role, error=type(ex).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


async def connect_once(role: str, url: str | None = None, timeout_s: float = 3.0, **extra: Any) -> Client:
    """One quiet attempt (command-line tools and readiness probes): raises if NATS is not there."""
    return await nats.connect(servers(url or nats_url()), name=role, connect_timeout=timeout_s, max_reconnect_attempts=1,
                              allow_reconnect=False, error_cb=_quiet, **connect_options(role), **extra)


async def _create_or_open(create: Callable[[], Awaitable[Any]], open_: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return await open_()
    except (BucketNotFoundError, NotFoundError):
        pass
    try:
        return await create()
    except BadRequestError:
        return await open_()  # another process created it meanwhile


async def ensure_usage_stream(js: JetStreamContext) -> None:
    """The USAGE stream (usage events and credits), the same config wherever it is made."""
    try:
        await js.add_stream(StreamConfig(**usage_stream_settings(), storage=StorageType.FILE, num_replicas=replicas()))
    except BadRequestError:
        await js.stream_info(USAGE_STREAM)  # exists with another config: fine if it exists


async def ensure_limits_stream(js: JetStreamContext, window_s: int) -> None:
    """The rate-limit counter stream; windows older than two windows are dropped."""
    try:
        await js.add_stream(StreamConfig(
            name=LIMITS_STREAM, subjects=LIMITS_SUBJECTS, storage=StorageType.MEMORY, allow_msg_counter=True,
            allow_direct=True, max_age=3 * window_s, num_replicas=replicas(),
        ))
    except BadRequestError:
        await js.stream_info(LIMITS_STREAM)


async def ensure_holds_stream(js: JetStreamContext, window_s: float) -> None:
    """The balance-hold counter stream; a window's counter lives three windows, so the hold
    of a request whose gateway died mid-way is gone after at most that. In memory: holds
    only matter while their requests run, and a restart of NATS ends those anyway."""
    try:
        await js.add_stream(StreamConfig(
            name=HOLDS_STREAM, subjects=HOLDS_SUBJECTS, storage=StorageType.MEMORY, allow_msg_counter=True,
            allow_direct=True, max_age=3 * window_s,
        ))
    except BadRequestError:
        await js.stream_info(HOLDS_STREAM)


async def keys_bucket(js: JetStreamContext) -> KeyValue:
    """The `keys` bucket (key records by secret hash), created on first use."""
    bucket: KeyValue = await _create_or_open(
        lambda: js.create_key_value(KeyValueConfig(bucket=KEYS_BUCKET, history=5, storage=StorageType.FILE,
                                                   replicas=replicas())),
        lambda: js.key_value(KEYS_BUCKET),
    )
    return bucket


async def balances_bucket(js: JetStreamContext) -> KeyValue:
    """The `balances` bucket (one value per key: history 1), created on first use."""
    bucket: KeyValue = await _create_or_open(
        lambda: js.create_key_value(KeyValueConfig(bucket=BALANCES_BUCKET, history=1, storage=StorageType.FILE,
                                                   replicas=replicas())),
        lambda: js.key_value(BALANCES_BUCKET),
    )
    return bucket


async def responses_bucket(js: JetStreamContext, ttl_s: float) -> KeyValue:
    """The `responses` bucket (stored /v1/responses, one value each), created on first use
    with `ttl_s` as its values' max age ([responses] store_ttl_s)."""
    bucket: KeyValue = await _create_or_open(
        lambda: js.create_key_value(KeyValueConfig(
            bucket=RESPONSES_BUCKET, history=1, ttl=ttl_s, storage=StorageType.FILE, replicas=replicas(),
        )),
        lambda: js.key_value(RESPONSES_BUCKET),
    )
    return bucket


# Cooldown entries carry their own end (`until`); the bucket's max age only sweeps old ones.
COOLDOWNS_MAX_AGE_S = 24 * 3600.0


async def cooldowns_bucket(js: JetStreamContext) -> KeyValue:
    """The `cooldowns` bucket (issue 16: one entry per cooling deployment), in memory:
    losing it with the server only lets traffic back to deployments a moment early."""
    bucket: KeyValue = await _create_or_open(
        lambda: js.create_key_value(KeyValueConfig(bucket=COOLDOWNS_BUCKET, history=1, storage=StorageType.MEMORY,
                                                   ttl=COOLDOWNS_MAX_AGE_S, replicas=replicas())),
        lambda: js.key_value(COOLDOWNS_BUCKET),
    )
    return bucket


def main() -> None:
    """Print the `authorization` block for an operator's own nats-server (passwords from env)."""
    passwords = {}
    for role in ROLES:
        set_password = environment().nats_password(role)
        passwords[role] = f"<{role} password>" if set_password is None else set_password
    sys.stdout.write(authorization_block(passwords))


if __name__ == "__main__":
    main()
