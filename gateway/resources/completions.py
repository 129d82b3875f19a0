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
from gateway.contracts.errors import APIError
from gateway.contracts.log import Logger
from gateway.contracts.openai import (
    CHAT_REQUEST_DECODER,
    EMBEDDING_REQUEST_DECODER,
    embedding_inputs,
)
from gateway.disconnect import client_gone_probe
from gateway.relay import Relay
from gateway.routing import Router


# Errors before the first byte that another model may not have: try the next fallback.
FALLBACK_STATUSES = frozenset({429, 502, 503, 504})


class _Dispatch:
    """What both endpoints share: admission, the job, fallbacks before the first byte."""

    def __init__(self, auth: Authenticator, router: Router, gate: Gate, relay: Relay,
                 settings: GatewaySettings, log: Logger, clock: Callable[[], float] = time.time) -> None:
        self._auth = auth
        self._router = router
        self._gate = gate
        self._relay = relay
        self._settings = settings
        self._log = log
        self._clock = clock

    def _job(self, req: falcon.Request, model: ModelConfig, op: str, raw: bytes, attempt: int,
             stream: bool, include_usage: bool) -> Job:
        key = req.context.key
        # NOTE: each attempt bills under its own id, so a fallback's usage is never
        # de-duplicated against a failed attempt that already spent tokens.
        request_id = req.context.request_id if attempt == 0 else f"{req.context.request_id}-f{attempt}"
        return Job(
            request_id=request_id,
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
            gemini=model.gemini,
            thinking=model.thinking,
            prompt_cache=model.prompt_cache,
            metered=key.metered,
        )

    def _dispatch(self, req: falcon.Request, resp: falcon.Response, model: ModelConfig, op: str,
                  raw: bytes, output_limit: int | None, stream: bool = False, include_usage: bool = False) -> None:
        key = req.context.key
        ticket = self._gate.admit(key, model, len(raw), output_limit)
        resp.set_headers(ticket.headers())
        settle = self._gate.settle(ticket)
        candidates = [model, *self._router.fallbacks(key, model)]
        for attempt, candidate in enumerate(candidates):
            job = self._job(req, candidate, op, raw, attempt, stream, include_usage)
            ticket.request_id = job.request_id  # its usage event ends the balance hold
            subject = chat_subject(candidate.provider) if op == "chat" else embed_subject(candidate.provider)
            try:
                self._relay.respond(resp, job, subject, settle, client_gone_probe(req.env))
                return
            except APIError as ex:
                if attempt == len(candidates) - 1 or ex.status not in FALLBACK_STATUSES:
                    settle(None)
                    raise
                self._log.info("fallback", request_id=req.context.request_id, model=candidate.id,
                               status=ex.status, next_model=candidates[attempt + 1].id)


class ChatResource(_Dispatch):
    """POST /v1/chat/completions."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Authenticate -> decode -> route -> dispatch -> relay."""
        req.context.key = self._auth.authenticate(req)
        raw = read_body(req, self._settings.max_body_bytes)
        body = decode(CHAT_REQUEST_DECODER, raw)
        req.context.model = body.model
        model = self._router.resolve(req.context.key, body.model, "chat")
        self._dispatch(req, resp, model, "chat", raw, body.output_limit(), body.is_stream(), body.wants_usage_chunk())


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
        self._dispatch(req, resp, model, "embed", raw, None)
