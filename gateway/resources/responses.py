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
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from gateway.runtime import natsbus
from gateway.admission import Gate
from gateway.attempts import Attempts
from gateway.auth import Authenticator
from gateway.contracts.config import GatewaySettings
from gateway.contracts.log import Logger
from gateway.relay import Relay
from gateway.routing import Router
from gateway.bus_client import Bridge
from gateway.contracts.bus import response_store_key
from gateway.contracts.errors import response_not_found
from gateway.contracts.openai_responses import (
    RESPONSES_REQUEST_DECODER,
    STORED_DECODER,
    DeletedResponse,
    Response,
    ResponsesRequest,
    check_request,
)
from gateway.body import decode, read_body
from gateway.openapi import describe
from gateway.resources.completions import _Dispatch

STORE_TIMEOUT_S = 5.0
_ENCODER = msgspec.json.Encoder()


class ResponseStore:
    """The gateway's reads and deletes of stored responses (the worker writes them)."""

    def __init__(self, bridge: Bridge, ttl_s: float) -> None:
        self._bridge = bridge
        self._ttl_s = ttl_s
        self._bucket: KeyValue | None = None

    async def _open(self, nc: Client) -> KeyValue:
        if self._bucket is None:
            self._bucket = await natsbus.responses_bucket(nc.jetstream(), self._ttl_s)
        return self._bucket

    def get(self, key_id: str, response_id: str) -> bytes | None:
        """The stored response object, or None."""
        name = response_store_key(key_id, response_id)
        if name is None:
            return None

        async def work(nc: Client) -> bytes | None:
            bucket = await self._open(nc)
            try:
                entry = await bucket.get(name)
            except KeyNotFoundError:
                return None
            return entry.value

        value = self._bridge.run(work, STORE_TIMEOUT_S)
        if not value:
            return None
        stored = STORED_DECODER.decode(value)
        return bytes(stored.response) if stored.key_id == key_id else None

    def delete(self, key_id: str, response_id: str) -> bool:
        """Delete one stored response; False when there was none."""
        if self.get(key_id, response_id) is None:
            return False
        name = response_store_key(key_id, response_id)
        assert name is not None

        async def work(nc: Client) -> None:
            await (await self._open(nc)).delete(name)

        self._bridge.run(work, STORE_TIMEOUT_S)
        return True


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
