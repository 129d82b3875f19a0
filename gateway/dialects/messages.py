"""Anthropic Messages (issue 13): POST /v1/messages and /v1/messages/count_tokens.

Claude Code and the Anthropic SDKs. Jobs name the `messages` dialect, so workers convert
(or pass through to Anthropic with the caller's `anthropic-beta`); every error on these
routes is written in Anthropic's shape, and so is any error of a request carrying
`anthropic-version` elsewhere (the model list, gateway/resources/models.py). This module
is the one place that reads Anthropic's request headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import falcon

from gateway.body import decode, read_body
from gateway.contracts import anthropic_messages
from gateway.contracts.anthropic_messages import (
    COUNT_TOKENS_ENVELOPE_DECODER,
    MESSAGES_ENVELOPE_DECODER,
    MessagesEnvelope,
)
from gateway.contracts.errors import APIError
from gateway.dialects import DialectSpec, ExtraRoute, Services, Summary, shaped_errors
from gateway.openapi import describe
from gateway.sse_framing import MessagesFraming


def speaks_anthropic(req: falcon.Request) -> bool:
    """True when the caller speaks Anthropic's API: its SDKs and Claude Code send `anthropic-version`."""
    return req.get_header("anthropic-version") is not None


def anthropic_error(ex: APIError) -> bytes:
    """`{"type": "error", "error": {"type", "message"}}`, the field named in the message."""
    return anthropic_messages.error_body(ex.status, ex.error.message, ex.error.code, ex.error.param)


def anthropic_status(ex: APIError) -> int:
    """The OpenAI table's status, but Anthropic's 529 for an overloaded upstream."""
    return anthropic_messages.error_status(ex.status, ex.error.code)


def job_fields(req: falcon.Request) -> dict[str, Any]:
    """`anthropic-beta` as the caller sent it, kept on pass-through to Anthropic."""
    return {"anthropic_beta": req.get_header("anthropic-beta") or ""}


def summary(body: MessagesEnvelope, req: falcon.Request, fields: Mapping[str, str]) -> Summary:
    """The model, stream and `max_tokens` (required by Anthropic) of a Messages request."""
    return Summary(body.model, body.is_stream(), body.max_tokens)


class CountTokensResource:
    """POST /v1/messages/count_tokens."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Count a request's input tokens: Anthropic's own count on Claude routes, an
        estimate elsewhere (workers decide by the provider's kind). Free: nothing is
        admitted against limits or billed, as Anthropic does not bill it either."""
        services = self._services
        with shaped_errors(MESSAGES.error_shape, MESSAGES.error_status):
            req.context.key = services.auth.authenticate(req, MESSAGES.keys)
            raw = read_body(req, services.config.gateway.max_body_bytes)
            body = decode(COUNT_TOKENS_ENVELOPE_DECODER, raw)
            req.context.model = body.model
            model = services.router.resolve(req.context.key, body.model, "chat")
            # NOTE: a count is free and never retried: the model's first deployment answers it
            services.dispatcher.once(req, resp, MESSAGES.outbound(req, "count_tokens"), model, raw)


def extras(services: Services) -> Iterable[ExtraRoute]:
    """count_tokens."""
    return [("/v1/messages/count_tokens", CountTokensResource(services), None)]


MESSAGES = DialectSpec(name="messages", routes=("/v1/messages",), decoder=MESSAGES_ENVELOPE_DECODER,
                       summary=summary, error_shape=anthropic_error, error_status=anthropic_status, framing=MessagesFraming(),
                       job_fields=job_fields, extras=extras)

describe("POST", "/v1/messages", "Create a message (Anthropic's Messages API; SSE events with `stream: true`)",
         request=anthropic_messages.MessagesRequest, response=anthropic_messages.Message,
         error=anthropic_messages.ErrorBody, tag="anthropic")
describe("POST", "/v1/messages/count_tokens", "Count a message request's input tokens (never billed)",
         request=anthropic_messages.CountTokensRequest, response=anthropic_messages.CountTokensResponse,
         error=anthropic_messages.ErrorBody, tag="anthropic")
