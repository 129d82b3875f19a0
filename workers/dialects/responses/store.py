"""Stored responses, the worker's side: read a `previous_response_id`, write an answer.

Values live in the `responses` bucket (layout: gateway/runtime/response_store.py) under
`<key id>.<response id>`, so a key only ever finds its own responses; the gateway reads
the same values for `GET /v1/responses/{id}` and deletes them for `DELETE`.
"""

from __future__ import annotations


import msgspec
from nats.errors import Error as NatsError
from nats.js.client import JetStreamContext

from gateway.contracts.log import Logger
from gateway.runtime.response_store import StoredResponses, encode_stored


class _Output(msgspec.Struct):
    output: list[msgspec.Raw] = []


_OUTPUT = msgspec.json.Decoder(_Output)


class ResponseStore:
    """Reads and writes stored responses in the `responses` bucket."""

    def __init__(self, js: JetStreamContext, ttl_s: float, log: Logger) -> None:
        self._js = js
        self._log = log
        self._stored = StoredResponses(ttl_s)  # the bucket's layout (gateway/runtime/response_store.py)

    async def history(self, key_id: str, response_id: str) -> list[msgspec.Raw] | None:
        """The conversation a continuation of `response_id` starts from (its input items,
        then its output items); None when this key has no such response."""
        stored = await self._stored.get(self._js, key_id, response_id)
        if stored is None:
            return None
        return [*stored.items, *_OUTPUT.decode(stored.response).output]

    async def save(self, key_id: str, response_id: str, response: bytes, items: list[msgspec.Raw]) -> None:
        """Store one response and the input it answered. A failure is logged, not raised:
        the caller's answer matters more than its later retrieval."""
        value = encode_stored(key_id, response, items)
        try:
            if not await self._stored.put(self._js, key_id, response_id, value):
                self._log.warning("response_not_stored", response_id=response_id[:100], reason="unusable id")
        except (NatsError, OSError, TimeoutError) as ex:
            self._log.warning("response_not_stored", response_id=response_id, error=type(ex).__name__,
                              size=len(value))


