"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages dialect.

The same path as chat (authenticate -> decode -> route -> admit -> dispatch -> relay),
with the Job naming the `messages` dialect so workers convert; every error on these
routes is written in Anthropic's shape (`anthropic_errors`). `HEAD /` answers the probe
Claude Code sends before its first request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import falcon
import msgspec

from gateway.body import decode, read_body
from gateway.contracts import anthropic_messages
from gateway.contracts.anthropic_messages import COUNT_TOKENS_DECODER, MESSAGES_REQUEST_DECODER
from gateway.contracts.bus import Job, chat_subject
from gateway.contracts.config import Deployment, ModelConfig
from gateway.openapi import describe
from gateway.contracts.errors import APIError
from gateway.disconnect import client_gone_probe
from gateway.resources.completions import _Dispatch


class AnthropicAPIError(APIError):
    """An APIError written as `{"type": "error", "error": {"type", "message"}}`."""

    def body(self) -> bytes:
        """The Anthropic-shaped error body (same status as the OpenAI table's)."""
        return anthropic_messages.error_body(self.status, self.error.message, self.error.code)


@contextmanager
def anthropic_errors() -> Iterator[None]:
    """Re-raise any APIError of the block in Anthropic's shape."""
    try:
        yield
    except AnthropicAPIError:
        raise
    except APIError as ex:
        raise AnthropicAPIError(ex.status, ex.error, ex.retry_after, ex.headers) from ex


def wants_anthropic(req: falcon.Request) -> bool:
    """True when the caller speaks Anthropic's API (it sends `anthropic-version`)."""
    return req.get_header("anthropic-version") is not None


class MessagesResource(_Dispatch):
    """POST /v1/messages."""

    dialect = "messages"

    def _job(self, req: falcon.Request, model: ModelConfig, deployment: Deployment, op: str, raw: bytes,
             request_id: str, stream: bool, include_usage: bool) -> Job:
        job = super()._job(req, model, deployment, op, raw, request_id, stream, include_usage)
        return msgspec.structs.replace(job, anthropic_beta=req.get_header("anthropic-beta") or "")

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Authenticate -> decode -> route -> dispatch -> relay, errors in Anthropic's shape."""
        with anthropic_errors():
            req.context.key = self._auth.authenticate(req)
            raw = read_body(req, self._settings.max_body_bytes)
            body = decode(MESSAGES_REQUEST_DECODER, raw)
            req.context.model = body.model
            model = self._router.resolve(req.context.key, body.model, "chat")
            self._dispatch(req, resp, model, "chat", raw, body.max_tokens, body.is_stream())

    def on_post_count(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Count a request's input tokens: Anthropic's own count on Claude routes, an
        estimate elsewhere (workers decide by the provider's kind). Free: nothing is
        admitted against limits or billed, as Anthropic does not bill it either."""
        with anthropic_errors():
            req.context.key = self._auth.authenticate(req)
            raw = read_body(req, self._settings.max_body_bytes)
            body = decode(COUNT_TOKENS_DECODER, raw)
            req.context.model = body.model
            model = self._router.resolve(req.context.key, body.model, "chat")
            # NOTE: a count is free and never retried: the model's first deployment answers it
            deployment = model.routes()[0]
            job = self._job(req, model, deployment, "count_tokens", raw, req.context.request_id, False, False)
            self._relay.respond(resp, job, chat_subject(deployment.provider), None, client_gone_probe(req.env))


class RootResource:
    """`/`: answers the reachability probe (`HEAD /`) clients such as Claude Code send."""

    def on_head(self, req: falcon.Request, resp: falcon.Response) -> None:
        """200, no body."""
        resp.status = falcon.HTTP_200
        resp.content_type = falcon.MEDIA_JSON

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """200 with a short note of what is served here."""
        resp.content_type = falcon.MEDIA_JSON
        resp.data = b'{"service":"llm-gateway","api":["/v1/chat/completions","/v1/messages"]}'


describe("POST", "/v1/messages", "Create a message (Anthropic's Messages API; SSE events with `stream: true`)",
         request=anthropic_messages.MessagesRequest, response=anthropic_messages.Message,
         error=anthropic_messages.ErrorBody, tag="anthropic")
describe("POST", "/v1/messages/count_tokens", "Count a message request's input tokens (never billed)",
         request=anthropic_messages.CountTokensRequest, response=anthropic_messages.CountTokensResponse,
         error=anthropic_messages.ErrorBody, tag="anthropic")
describe("GET", "/", "What this server serves", auth=False, tag="operations")
describe("HEAD", "/", "Reachability probe (Claude Code sends it first)", auth=False, tag="operations")
