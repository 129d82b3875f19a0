"""POST /v1/chat/completions and /v1/embeddings: authenticate, decode, route, dispatch."""

from __future__ import annotations

import time
from collections.abc import Callable

import falcon

from gateway.runtime import tracing
from gateway.admission import Gate
from gateway.attempts import Attempts
from gateway.auth import Authenticator
from gateway.body import decode, read_body
from gateway.contracts.bus import Job, chat_subject, embed_subject
from gateway.contracts.config import Deployment, GatewaySettings, ModelConfig
from gateway.contracts.errors import APIError
from gateway.contracts.log import Logger
from gateway.contracts.openai import (
    CHAT_REQUEST_DECODER,
    EMBEDDING_REQUEST_DECODER,
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    EmbeddingRequest,
    EmbeddingResponse,
    Usage,
    embedding_inputs,
)
from gateway.disconnect import client_gone_probe
from gateway.relay import Relay
from gateway.routing import Router
from gateway.openapi import describe


class _Dispatch:
    """What both endpoints share: admission, then the attempts (gateway/attempts.py)."""

    dialect = "chat"  # the inbound dialect of the route (a Job field; workers convert by it)

    def __init__(self, auth: Authenticator, router: Router, gate: Gate, relay: Relay,
                 settings: GatewaySettings, log: Logger, attempts: Attempts,
                 clock: Callable[[], float] = time.time) -> None:
        self._auth = auth
        self._router = router
        self._gate = gate
        self._relay = relay
        self._settings = settings
        self._log = log
        self._attempts = attempts
        self._clock = clock

    def _job(self, req: falcon.Request, model: ModelConfig, deployment: Deployment, op: str, raw: bytes,
             request_id: str, stream: bool, include_usage: bool) -> Job:
        key = req.context.key
        return Job(
            request_id=request_id,
            key_id=key.id,
            key_name=key.name,
            op=op,
            model=model.id,
            provider=deployment.provider,
            upstream_model=deployment.upstream,
            body=raw,
            stream=stream,
            include_usage=include_usage,
            deadline=self._clock() + self._settings.request_timeout_s,
            options=model.options(),
            dialect=self.dialect,
            deployment=deployment.name,
            metered=key.metered,
        )

    def _dispatch(self, req: falcon.Request, resp: falcon.Response, model: ModelConfig, op: str,
                  raw: bytes, output_limit: int | None, stream: bool = False, include_usage: bool = False) -> None:
        key = req.context.key
        req.context.provider = model.provider
        try:
            ticket = self._gate.admit(key, model, len(raw), output_limit)
        except APIError as ex:
            req.context.refused = ex.error.code or ex.error.type  # for the refusals metric
            raise
        resp.set_headers(ticket.headers())
        settle = self._gate.settle(ticket)
        probe = client_gone_probe(req.env)
        tried: list[str] = []

        def attempt(candidate: ModelConfig, deployment: Deployment, request_id: str,
                    done: Callable[[], None]) -> None:
            job = self._job(req, candidate, deployment, op, raw, request_id, stream, include_usage)
            ticket.request_id = job.request_id  # its usage event ends the balance hold
            subject = embed_subject(deployment.provider) if op == "embed" else chat_subject(deployment.provider)
            if tried and candidate.id not in tried:
                req.context.fallbacks += 1  # another model of the fallbacks (metrics)
            tried.append(candidate.id)
            req.context.provider = deployment.provider
            this_span = tracing.start_request(op, candidate.id, deployment.provider, subject)

            def on_end(usage: Usage | None) -> None:
                done()
                if usage is not None:
                    req.context.usage = usage  # for the access line and the metrics
                tracing.end_request(this_span, usage)
                settle(usage)

            try:
                self._relay.respond(resp, job, subject, on_end, probe, tracing.headers(this_span))
            except APIError as ex:
                tracing.end_request(this_span, status=ex.status, error=ex.error.code or ex.error.type)
                raise
            req.context.first_output = time.perf_counter()

        def on_attempt(route: str, number: int) -> None:
            resp.set_header("x-gateway-route", route)
            resp.set_header("x-gateway-attempts", str(number))

        try:
            self._attempts.run(req.context.request_id, [model, *self._router.fallbacks(key, model)],
                               attempt, on_attempt)
        except APIError:
            settle(None)
            raise


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


describe("POST", "/v1/chat/completions", "Create a chat completion (a JSON body, or SSE with `stream: true`)",
         request=ChatRequest, response=ChatCompletion, stream=ChatCompletionChunk)
describe("POST", "/v1/embeddings", "Create embeddings", request=EmbeddingRequest, response=EmbeddingResponse)
