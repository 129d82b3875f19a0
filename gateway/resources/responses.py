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
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from gateway.runtime import natsbus
from gateway.auth import Authenticator
from gateway.bus_client import Bridge
from gateway.contracts.bus import response_store_key
from gateway.contracts.errors import APIError, OpenAIError
from gateway.contracts.openai_responses import STORED_DECODER, DeletedResponse, Response
from gateway.openapi import describe

STORE_TIMEOUT_S = 5.0
_ENCODER = msgspec.json.Encoder()


def response_not_found(response_id: str) -> APIError:
    """404 for a response id this key has no stored response under."""
    shown = response_id if len(response_id) <= 100 else response_id[:100] + "..."
    return APIError(404, OpenAIError(
        f"Response with id '{shown}' not found.", "invalid_request_error", "response_id", "response_not_found",
    ))


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
