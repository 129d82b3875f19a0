"""POST /v1/chat/completions and /v1/embeddings: authenticate, decode, route, dispatch."""

from __future__ import annotations

import time
from collections.abc import Callable

import falcon

from gateway.admission import Gate
from gateway.auth import Authenticator
from gateway.body import decode, read_body
from gateway.contracts.bus import Job, chat_subject, embed_subject
from gateway.contracts.config import GatewaySettings, ModelConfig
from gateway.disconnect import client_gone_probe
from gateway.contracts.openai import (
    CHAT_REQUEST_DECODER,
    EMBEDDING_REQUEST_DECODER,
    embedding_inputs,
)
from gateway.relay import Relay
from gateway.routing import Router


class _Dispatch:
    """What both endpoints share: the job they publish."""

    def __init__(self, auth: Authenticator, router: Router, gate: Gate, relay: Relay,
                 settings: GatewaySettings, clock: Callable[[], float] = time.time) -> None:
        self._auth = auth
        self._router = router
        self._gate = gate
        self._relay = relay
        self._settings = settings
        self._clock = clock

    def _job(self, req: falcon.Request, model: ModelConfig, op: str, raw: bytes,
             stream: bool = False, include_usage: bool = False) -> Job:
        key = req.context.key
        return Job(
            request_id=req.context.request_id,
            key_id=key.id,
            key_name=key.name,
            op=op,
            model=model.id,
            provider=model.provider,
            upstream_model=model.upstream_id(),
            body=raw,
            stream=stream,
            include_usage=include_usage,
            deadline=self._clock() + self._settings.request_timeout_s,
            max_output_tokens=model.max_output_tokens,
        )

    def _dispatch(self, req: falcon.Request, resp: falcon.Response, model: ModelConfig, job: Job,
                  subject: str, raw: bytes, output_limit: int | None) -> None:
        ticket = self._gate.admit(req.context.key, model, len(raw), output_limit)
        resp.set_headers(ticket.headers())
        self._relay.respond(resp, job, subject, self._gate.settle(ticket), client_gone_probe(req.env))


class ChatResource(_Dispatch):
    """POST /v1/chat/completions."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Authenticate -> decode -> route -> dispatch -> relay."""
        req.context.key = self._auth.authenticate(req)
        raw = read_body(req, self._settings.max_body_bytes)
        body = decode(CHAT_REQUEST_DECODER, raw)
        req.context.model = body.model
        model = self._router.resolve(req.context.key, body.model, "chat")
        job = self._job(req, model, "chat", raw, body.is_stream(), body.wants_usage_chunk())
        self._dispatch(req, resp, model, job, chat_subject(model.provider), raw, body.output_limit())


class EmbeddingsResource(_Dispatch):
    """POST /v1/embeddings."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Authenticate -> decode -> route -> dispatch -> relay."""
        req.context.key = self._auth.authenticate(req)
        raw = read_body(req, self._settings.max_body_bytes)
        body = decode(EMBEDDING_REQUEST_DECODER, raw)
        req.context.model = body.model
        embedding_inputs(body)
        model = self._router.resolve(req.context.key, body.model, "embedding")
        job = self._job(req, model, "embed", raw)
        self._dispatch(req, resp, model, job, embed_subject(model.provider), raw, None)
