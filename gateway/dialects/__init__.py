"""An inbound dialect as one small spec; every dialect's POST runs the same pipeline.

The pipeline (gateway/resources/dialect.py, then gateway/dispatch.py): read the caller's
key where the dialect's clients send it, read and decode the body with the dialect's
decoder, summarize it (model, stream, output limit, usage chunk), validate it, resolve the
model, admit, run the attempts and relay the frames in the dialect's SSE framing. Every
error of the dialect's routes is written in its own error shape.

A dialect adds one module beside these (a `DialectSpec`, its `describe(...)` lines, any
extra routes of its own) and one line in the route table (gateway/dialects/table.py);
its worker side converts jobs whose `dialect` names it (workers/dialects/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import falcon
import msgspec

from gateway.auth import OPENAI_KEYS, Authenticator, KeySource
from gateway.bus_client import Bridge
from gateway.contracts.config import Config
from gateway.contracts.errors import APIError
from gateway.dispatch import Dispatcher, Outbound, Summary
from gateway.routing import Router
from gateway.sse_framing import ChatFraming, Framing

B = TypeVar("B")
# An error body in a dialect's own shape (status, message and code come from the APIError).
ErrorShape = Callable[[APIError], bytes]
# The HTTP status of an error in a dialect whose statuses differ (Anthropic's 529).
ErrorStatus = Callable[[APIError], int]
# One extra route of a dialect: (URI template, resource, Falcon responder suffix or None).
ExtraRoute = tuple[str, object, str | None]


@dataclass(frozen=True, slots=True)
class Services:
    """The collaborators of every dialect's routes, built once in create_app."""

    config: Config
    bridge: Bridge
    auth: Authenticator
    router: Router
    dispatcher: Dispatcher


def _nothing(body: object) -> None:
    return None


def _no_fields(req: falcon.Request) -> dict[str, Any]:
    return {}


def _no_extras(services: Services) -> Iterable[ExtraRoute]:
    return ()


@dataclass(frozen=True, slots=True)
class DialectSpec(Generic[B]):
    """One inbound dialect: its POST routes and everything that differs between dialects."""

    name: str  # the Job's `dialect`: workers convert by it
    # POST routes; each `{field}` of a route reaches `summary` (e.g. `/v1beta/models/{model}:{method}`)
    routes: tuple[str, ...]
    decoder: msgspec.json.Decoder[B]
    # (body, request, URI fields) -> Summary; the model may come from a URI field.
    summary: Callable[[B, falcon.Request, Mapping[str, str]], Summary]
    check: Callable[[B], None] = _nothing  # validation beyond the schema (after the model is known)
    op: str = "chat"  # the Job's op: "chat" or "embed"
    kind: str = "chat"  # the kind of model the routes serve: "chat" or "embedding"
    keys: KeySource = OPENAI_KEYS
    error_shape: ErrorShape | None = None  # None: OpenAI's `{"error": {...}}`
    error_status: ErrorStatus | None = None  # None: the OpenAI table's status
    framing: Framing = field(default_factory=ChatFraming)
    job_fields: Callable[[falcon.Request], dict[str, Any]] = _no_fields  # extra Job fields, per request
    extras: Callable[[Services], Iterable[ExtraRoute]] = _no_extras  # other routes of the dialect

    def outbound(self, req: falcon.Request, op: str | None = None) -> Outbound:
        """What this dialect puts in the request's Job (`op`: another than the routes' own)."""
        return Outbound(self.name, op or self.op, self.framing, self.job_fields(req))


class ShapedError(APIError):
    """An APIError written in a dialect's own error shape (same status and headers)."""

    def __init__(self, ex: APIError, shape: ErrorShape, status: ErrorStatus | None = None) -> None:
        super().__init__(status(ex) if status else ex.status, ex.error, ex.retry_after, ex.headers)
        self.shape = shape

    def body(self) -> bytes:
        """The dialect's error body."""
        return self.shape(self)


def reshaped(ex: APIError, shape: ErrorShape | None, status: ErrorStatus | None = None) -> APIError:
    """`ex` in `shape` (OpenAI's when None, or when it is shaped already), with `status`."""
    if shape is None or isinstance(ex, ShapedError):
        return ex
    return ShapedError(ex, shape, status)


@contextmanager
def shaped_errors(shape: ErrorShape | None, status: ErrorStatus | None = None) -> Iterator[None]:
    """Re-raise any APIError of the block in `shape` (OpenAI's when None), with `status`."""
    try:
        yield
    except APIError as ex:
        shaped = reshaped(ex, shape, status)
        if shaped is ex:
            raise
        raise shaped from ex


__all__ = ["DialectSpec", "ErrorShape", "ErrorStatus", "ExtraRoute", "Services", "ShapedError", "Summary", "reshaped",
           "shaped_errors"]
