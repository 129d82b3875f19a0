"""Inbound dialects, loaded by name: a Job's `dialect` "x" loads `workers.dialects.x`.

Every dialect answers one question, `prepare(job, route, target, created)`: either a
`Direct` pass-through (the provider's kind speaks the dialect: the upstream request and
the reader of its answer) or a request `Converted` to the chat shape every provider
speaks, with the `Output` that maps the chat output back to the dialect
(workers/frames.py). Either way the job's output leaves through an Output on the job's
sink, and one pump (workers/pump.py) runs the upstream call. "chat" itself has no
module. Adding a dialect touches no provider.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import msgspec

from gateway.contracts.bus import Job
from gateway.contracts.errors import APIError
from gateway.contracts.openai import ChatRequest, Usage
from workers.frames import RELAYED, Output
from workers.job import Route
from workers.providers.base import SseEvent, Target, UpstreamRequest

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class UnknownDialectError(Exception):
    """No dialect module exists for a Job's dialect."""


class PassThrough(Protocol):
    """Reads a native upstream's answer as it goes back to the caller unchanged."""

    def result(self, body: bytes) -> tuple[msgspec.Raw, Usage]:
        """The whole body to send as is, and the usage it reports."""
        ...

    def feed(self, event: SseEvent) -> list[msgspec.Raw]:
        """The events to relay for one upstream event; raises UpstreamError on an error event."""
        ...

    def usage(self) -> Usage:
        """Usage reported so far (billed even when the stream breaks)."""
        ...

    def unreported_chars(self) -> int:
        """Output characters relayed that no reported count covers yet (0: not estimated)."""
        ...

    def failure(self) -> str | None:
        """The error code when the upstream ended the stream with its own error (relayed as
        its final event, so the job ends failed without an error of ours)."""
        ...

    def close(self) -> None:
        """The end of the stream; raises UpstreamError if it ended too early."""
        ...


@dataclass(frozen=True, slots=True)
class Direct:
    """A pass-through: the upstream request, the reader of its answer, and the Output its
    relayed answer leaves through."""

    request: UpstreamRequest
    reader: PassThrough
    prompt_estimate: int  # billed only if the upstream reports nothing
    output: Output = RELAYED


@dataclass(frozen=True, slots=True)
class Converted:
    """A request converted to chat (`body`: its JSON), and the Output of its chat answer.

    A 400 from the provider's conversion or the upstream names chat's parameter; the
    Output's `failed` names the caller's own field instead (one place, every dialect).
    `dropped`: caller fields the conversion left out (named with the provider's own in
    `x-gateway-dropped-params`).
    """

    chat: ChatRequest
    body: bytes
    output: Output = RELAYED
    dropped: tuple[str, ...] = ()


class Dialect(Protocol):
    """One inbound dialect's conversion rules."""

    async def prepare(self, job: Job, route: Route, target: Target, created: int) -> Direct | Converted:
        """The job as its route's provider takes it; raises APIError (a 400, a 404 ...)."""
        ...

    def count_tokens(self, kind: str, job: Job, target: Target) -> UpstreamRequest | None:
        """The native token-count request where the provider has one, else None."""
        ...

    def estimate_tokens(self, job: Job, target: Target) -> msgspec.Struct:
        """The dialect's token-count answer, estimated here (no native count)."""
        ...


def load(name: str) -> Dialect:
    """The dialect named `name`; raises UnknownDialectError if there is none."""
    if not _NAME.match(name):
        raise UnknownDialectError(f"invalid dialect '{name}'")
    try:
        module = importlib.import_module(f"workers.dialects.{name}")
    except ModuleNotFoundError as ex:
        if ex.name and ex.name.startswith(f"workers.dialects.{name}"):
            raise UnknownDialectError(f"no dialect module for '{name}'") from ex
        raise
    dialect = getattr(module, "DIALECT", None)
    if dialect is None:
        raise UnknownDialectError(f"dialect module '{name}' exports no DIALECT")
    return dialect  # type: ignore[no-any-return]


__all__ = ["Converted", "Dialect", "Direct", "PassThrough", "UnknownDialectError", "load"]
