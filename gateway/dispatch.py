"""One request's way out, for every dialect: admission, the attempts, the Job, the relay.

Built once in create_app; the dialect resource (gateway/resources/dialect.py) hands it
an authenticated, decoded and resolved request, with its `Summary` and what its dialect
puts in the Job and on the wire (`Outbound`, from the request's spec in gateway/dialects/).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import falcon
import msgspec

from gateway.admission import Gate, Ticket
from gateway.attempts import Attempts
from gateway.contracts.bus import Job, KeyRecord, chat_subject, embed_subject
from gateway.contracts.config import Deployment, GatewaySettings, ModelConfig
from gateway.contracts.errors import APIError
from gateway.contracts.openai import Usage
from gateway.disconnect import client_gone_probe
from gateway.relay import Relay
from gateway.routing import Router
from gateway.runtime import tracing
from gateway.sse_framing import ChatFraming, Framing


@dataclass(frozen=True, slots=True)
class Summary:
    """What the pipeline needs to know of one decoded request."""

    model: str  # the model id the caller asked for (from the body, or from the URL path)
    stream: bool = False
    output_limit: int | None = None  # the caller's own output-token limit (admission's hold)
    include_usage: bool = False  # a usage chunk ends the stream (Chat Completions' stream_options)


@dataclass(frozen=True, slots=True)
class Outbound:
    """What a request's dialect puts in its Job and how its stream is framed."""

    dialect: str = "chat"  # the Job's `dialect`: workers convert by it
    op: str = "chat"  # "chat" | "embed" | "count_tokens"
    framing: Framing = field(default_factory=ChatFraming)
    fields: dict[str, Any] = field(default_factory=dict)  # the dialect's own Job fields


def build_job(key: KeyRecord, model: ModelConfig, deployment: Deployment, *, request_id: str, op: str,
              dialect: str, raw: bytes, deadline: float, stream: bool = False, include_usage: bool = False,
              fields: dict[str, Any] | None = None) -> Job:
    """The Job of one attempt: the one place a Job is built (`fields`: the dialect's own)."""
    job = Job(
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
        deadline=deadline,
        options=model.options(deployment.upstream),
        dialect=dialect,
        deployment=deployment.name,
        metered=key.metered,
    )
    return msgspec.structs.replace(job, **fields) if fields else job


def subject_of(op: str, provider: str) -> str:
    """The bus subject a job of `op` goes out on."""
    return embed_subject(provider) if op == "embed" else chat_subject(provider)


class Dispatcher:
    """Admits a resolved request, runs its attempts (gateway/attempts.py), relays the answer."""

    def __init__(self, gate: Gate, attempts: Attempts, relay: Relay, router: Router, settings: GatewaySettings,
                 clock: Callable[[], float] = time.time) -> None:
        self._gate = gate
        self._attempts = attempts
        self._relay = relay
        self._router = router
        self._settings = settings
        self._clock = clock

    def dispatch(self, req: falcon.Request, resp: falcon.Response, out: Outbound, model: ModelConfig,
                 raw: bytes, summary: Summary) -> None:
        """Admit, then attempt `model` and its fallbacks until one answers (raises APIError)."""
        key = req.context.key
        req.context.provider = model.provider
        req.context.model_label = self._router.entry_id(model)
        try:
            ticket = self._gate.admit(key, model, len(raw), summary.output_limit)
        except APIError as ex:
            req.context.refused = ex.error.code or ex.error.type  # for the refusals metric
            raise
        resp.set_headers(ticket.headers())
        settle = self._gate.settle(ticket)
        attempt = self._attempt(req, resp, out, raw, summary, ticket, settle)

        def on_attempt(route: str, number: int) -> None:
            resp.set_header("x-gateway-route", route)
            resp.set_header("x-gateway-attempts", str(number))

        try:
            self._attempts.run(req.context.request_id, [model, *self._router.fallbacks(key, model)],
                               attempt, on_attempt)
        except APIError:
            settle(None)
            raise

    def _attempt(self, req: falcon.Request, resp: falcon.Response, out: Outbound, raw: bytes,
                 summary: Summary, ticket: Ticket,
                 settle: Callable[[Usage | None], None]) -> Callable[[ModelConfig, Deployment, str,
                                                                       Callable[[], None]], None]:
        """One attempt of the request (gateway/attempts.py's `Dispatch`)."""
        probe = client_gone_probe(req.env)
        tried: list[str] = []

        def attempt(candidate: ModelConfig, deployment: Deployment, request_id: str,
                    done: Callable[[], None]) -> None:
            job = build_job(req.context.key, candidate, deployment, request_id=request_id, op=out.op,
                            dialect=out.dialect, raw=raw, deadline=self._deadline(), stream=summary.stream,
                            include_usage=summary.include_usage, fields=out.fields)
            ticket.request_id = job.request_id  # its usage event ends the balance hold
            subject = subject_of(out.op, deployment.provider)
            if tried and candidate.id not in tried:
                req.context.fallbacks += 1  # another model of the fallbacks (metrics)
            tried.append(candidate.id)
            req.context.provider = deployment.provider
            this_span = tracing.start_request(out.op, candidate.id, deployment.provider, subject)

            def on_end(usage: Usage | None) -> None:
                done()
                if usage is not None:
                    req.context.usage = usage  # for the access line and the metrics
                tracing.end_request(this_span, usage)
                settle(usage)

            try:
                self._relay.respond(resp, job, subject, on_end, probe, tracing.headers(this_span), out.framing)
            except APIError as ex:
                tracing.end_request(this_span, status=ex.status, error=ex.error.code or ex.error.type)
                raise
            req.context.first_output = time.perf_counter()

        return attempt

    def once(self, req: falcon.Request, resp: falcon.Response, out: Outbound, model: ModelConfig,
             raw: bytes) -> None:
        """One unadmitted attempt on the model's first deployment, never retried: for free
        operations such as counting tokens (nothing is held against limits or billed)."""
        deployment = model.routes()[0]
        job = build_job(req.context.key, model, deployment, request_id=req.context.request_id, op=out.op,
                        dialect=out.dialect, raw=raw, deadline=self._deadline(), fields=out.fields)
        self._relay.respond(resp, job, subject_of(out.op, deployment.provider), None,
                            client_gone_probe(req.env), framing=out.framing)

    def _deadline(self) -> float:
        return self._clock() + self._settings.request_timeout_s
