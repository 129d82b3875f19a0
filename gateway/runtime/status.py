"""Status over NATS: every process answers `status.<role>`; `scripts/status` gathers them.

A status request is one core-NATS message to `status.gateway`, `status.worker` and
`status.ledger` with a reply inbox; every process of that role answers once with a
`ProcessStatus` (JSON), and the asker collects what arrives within a short window. Only
the operator role may ask (gateway/runtime/natsbus.py); each role may answer on its own subject.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from importlib import metadata

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from gateway.contracts.bus import EVENT_ENCODER, STATUS_DECODER, ProcessStatus, status_subject
from gateway.contracts.log import Logger

ANSWERING_ROLES = ("gateway", "worker", "ledger")
GATHER_S = 0.5


def version() -> str:
    """The installed project's version."""
    try:
        return metadata.version("llm-gateway")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def process_id() -> str:
    """`host:pid`, unique among the processes on one bus."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Identity:
    """What every answer of one process repeats: role, id, version, start time."""

    def __init__(self, role: str, clock: Callable[[], float] = time.time) -> None:
        self.role = role
        self.id = process_id()
        self.version = version()
        self.started_at = clock()
        self._clock = clock

    def status(self, **details: object) -> ProcessStatus:
        """A ProcessStatus of this process with `details` (in_flight, providers, ...)."""
        now = self._clock()
        return ProcessStatus(role=self.role, id=self.id, version=self.version, started_at=self.started_at,
                             uptime_s=round(now - self.started_at, 3), **details)  # type: ignore[arg-type]


async def answer_status(nc: Client, role: str, snapshot: Callable[[], ProcessStatus], log: Logger) -> Subscription:
    """(asyncio) Answer status requests on `status.<role>` with `snapshot()`."""

    async def on_request(msg: Msg) -> None:
        if not msg.reply:
            return
        try:
            payload = EVENT_ENCODER.encode(snapshot())
        except Exception as ex:  # noqa: BLE001 - a status answer must never take the process down
            log.error("status_failed", error=f"{type(ex).__name__}: {ex}")
            return
        await nc.publish(msg.reply, payload)

    return await nc.subscribe(status_subject(role), cb=on_request)


async def gather(nc: Client, wait_s: float = GATHER_S) -> list[ProcessStatus]:
    """(asyncio) Ask every role and collect the answers that arrive within `wait_s`."""
    answers: list[ProcessStatus] = []
    inbox = nc.new_inbox()

    async def on_answer(msg: Msg) -> None:
        try:
            answers.append(STATUS_DECODER.decode(msg.data))
        except ValueError:
            pass  # NOTE: msgspec's DecodeError is a ValueError; a stranger's reply is skipped

    sub = await nc.subscribe(inbox, cb=on_answer)
    try:
        for role in ANSWERING_ROLES:
            await nc.publish(status_subject(role), b"", reply=inbox)
        await nc.flush()
        # NOTE: how many processes will answer is unknown: a window is the protocol
        await asyncio.sleep(wait_s)
    finally:
        await sub.unsubscribe()
    return sorted(answers, key=lambda a: (a.role, a.id))
