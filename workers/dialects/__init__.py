"""Inbound dialects, loaded by name: a Job's `dialect` "x" loads `workers.dialects.x`.

A dialect converts the caller's request to the chat shape every provider speaks, the
chat output back to the dialect (`ChatOutput`), and may pass a request through unchanged
where the provider's kind speaks the dialect natively. "chat" itself has no module.
"responses" (stored conversations, its own event sink) is driven by
`workers/dialects/responses/run.py` from the job service instead of this protocol.
Adding a dialect touches no provider.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Protocol

import msgspec

from gateway.contracts.bus import Job
from gateway.contracts.openai import ChatRequest, Usage
from workers.frames import ChatOutput
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

    def close(self) -> None:
        """The end of the stream; raises UpstreamError if it ended too early."""
        ...


@dataclass(frozen=True, slots=True)
class Direct:
    """A pass-through: the upstream request and the reader of its answer."""

    request: UpstreamRequest
    reader: PassThrough


class Dialect(Protocol):
    """One inbound dialect's conversion rules."""

    def pass_through(self, kind: str, job: Job, target: Target) -> Direct | None:
        """The native request when the provider `kind` speaks this dialect, else None."""
        ...

    def to_chat(self, job: Job, target: Target) -> ChatRequest:
        """The caller's body as a chat request; raises ConversionError (400)."""
        ...

    def chat_output(self, job: Job, created: int) -> ChatOutput:
        """A converter of this job's chat output to the dialect."""
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


__all__ = ["Dialect", "Direct", "PassThrough", "UnknownDialectError", "load"]
