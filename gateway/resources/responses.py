"""POST /v1/responses, GET and DELETE /v1/responses/{id}: OpenAI's Responses dialect.

POST validates the Responses schema (gateway/contracts/openai_responses.py) and publishes
a chat-op Job with `dialect = "responses"`; the worker converts it
(workers/dialects/responses/) and stores the answer when `store` is true. GET and
DELETE read the `responses` bucket by `<key id>.<response id>` only, so a response is
visible to the key that made it and no other (404, as for an id that never existed).
"""

from __future__ import annotations

from collections.abc import Callable

import falcon
import msgspec
from nats.aio.client import Client

from gateway.admission import Gate
from gateway.attempts import Attempts
from gateway.auth import Authenticator
from gateway.contracts.config import GatewaySettings
from gateway.contracts.log import Logger
from gateway.relay import Relay
from gateway.routing import Router
from gateway.bus_client import Bridge
from gateway.contracts.errors import response_not_found
from gateway.contracts.openai_responses import (
    RESPONSES_REQUEST_DECODER,
    DeletedResponse,
    Response,
    ResponsesRequest,
    StoredResponse,
    check_request,
)
from gateway.body import decode, read_body
from gateway.openapi import describe
from gateway.resources.completions import _Dispatch
from gateway.runtime.response_store import StoredResponses

STORE_TIMEOUT_S = 5.0
_ENCODER = msgspec.json.Encoder()


class ResponseStore:
    """The gateway's reads and deletes of stored responses (the worker writes them)."""

    def __init__(self, bridge: Bridge, ttl_s: float) -> None:
        self._bridge = bridge
        self._stored = StoredResponses(ttl_s)  # the bucket's layout (gateway/runtime/response_store.py)

    def get(self, key_id: str, response_id: str) -> bytes | None:
        """The stored response object, or None."""

        async def work(nc: Client) -> StoredResponse | None:
            return await self._stored.get(nc.jetstream(), key_id, response_id)

        stored = self._bridge.run(work, STORE_TIMEOUT_S)
        return bytes(stored.response) if stored is not None else None

    def delete(self, key_id: str, response_id: str) -> bool:
        """Delete one stored response; False when there was none."""

        async def work(nc: Client) -> bool:
            return await self._stored.delete(nc.jetstream(), key_id, response_id)

        return bool(self._bridge.run(work, STORE_TIMEOUT_S))


class ResponsesResource(_Dispatch):
    """POST /v1/responses; GET and DELETE /v1/responses/{response_id} (suffix `one`)."""

    dialect = "responses"

    def __init__(self, dispatch: tuple[Authenticator, Router, Gate, Relay, GatewaySettings, Logger, Attempts,
                                       Callable[[], float]], store: ResponseStore) -> None:
        super().__init__(*dispatch)
        self.store = store

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Authenticate -> decode -> validate -> route -> dispatch -> relay."""
        req.context.key = self._auth.authenticate(req)
        raw = read_body(req, self._settings.max_body_bytes)
        body = decode(RESPONSES_REQUEST_DECODER, raw)
        req.context.model = body.model
        check_request(body)
        model = self._router.resolve(req.context.key, body.model, "chat")
        self._dispatch(req, resp, model, "chat", raw, body.output_limit(), body.is_stream())

    def on_get_one(self, req: falcon.Request, resp: falcon.Response, response_id: str) -> None:
        """The stored response, for the key that made it."""
        key = req.context.key = self._auth.authenticate(req)
        data = self.store.get(key.id, response_id)
        if data is None:
            raise response_not_found(response_id)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = data

    def on_delete_one(self, req: falcon.Request, resp: falcon.Response, response_id: str) -> None:
        """Delete the stored response, for the key that made it."""
        key = req.context.key = self._auth.authenticate(req)
        if not self.store.delete(key.id, response_id):
            raise response_not_found(response_id)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _ENCODER.encode(DeletedResponse(id=response_id))


describe("POST", "/v1/responses", "Create a response (OpenAI's Responses API; SSE events with `stream: true`)",
         request=ResponsesRequest, response=Response)
describe("GET", "/v1/responses/{response_id}", "A stored response of the caller's key", response=Response)
describe("DELETE", "/v1/responses/{response_id}", "Delete a stored response of the caller's key",
         response=DeletedResponse)
