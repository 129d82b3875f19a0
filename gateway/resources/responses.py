"""GET and DELETE /v1/responses/{id}: the stored responses of OpenAI's Responses dialect.

POST /v1/responses is the dialect's (gateway/dialects/responses.py); the worker converts
its jobs (workers/dialects/responses/) and stores the answer when `store` is true. GET
and DELETE read the `responses` bucket by `<key id>.<response id>` only, so a response is
visible to the key that made it and no other (404, as for an id that never existed).
"""

from __future__ import annotations

import falcon
import msgspec
from nats.aio.client import Client

from gateway.auth import Authenticator
from gateway.bus_client import Bridge
from gateway.contracts.errors import response_not_found
from gateway.contracts.openai_responses import DeletedResponse, Response, StoredResponse
from gateway.openapi import describe
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


class StoredResponseResource:
    """GET and DELETE /v1/responses/{response_id}."""

    def __init__(self, auth: Authenticator, store: ResponseStore) -> None:
        self._auth = auth
        self.store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response, response_id: str) -> None:
        """The stored response, for the key that made it."""
        key = req.context.key = self._auth.authenticate(req)
        data = self.store.get(key.id, response_id)
        if data is None:
            raise response_not_found(response_id)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = data

    def on_delete(self, req: falcon.Request, resp: falcon.Response, response_id: str) -> None:
        """Delete the stored response, for the key that made it."""
        key = req.context.key = self._auth.authenticate(req)
        if not self.store.delete(key.id, response_id):
            raise response_not_found(response_id)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _ENCODER.encode(DeletedResponse(id=response_id))


describe("GET", "/v1/responses/{response_id}", "A stored response of the caller's key", response=Response)
describe("DELETE", "/v1/responses/{response_id}", "Delete a stored response of the caller's key",
         response=DeletedResponse)
