"""Stored responses, the worker's side: read a `previous_response_id`, write an answer.

Values live in the `responses` bucket (gateway/runtime/natsbus.py) under
`<key id>.<response id>`, so a key only ever finds its own responses; the gateway reads
the same values for `GET /v1/responses/{id}` and deletes them for `DELETE`.
"""

from __future__ import annotations


import msgspec
from nats.errors import Error as NatsError
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from gateway.runtime import natsbus
from gateway.contracts.bus import response_store_key
from gateway.contracts.log import Logger
from gateway.contracts.openai_responses import STORED_DECODER, STORED_ENCODER, StoredResponse


class _Output(msgspec.Struct):
    output: list[msgspec.Raw] = []


_OUTPUT = msgspec.json.Decoder(_Output)


class ResponseStore:
    """Reads and writes stored responses in the `responses` bucket."""

    def __init__(self, js: JetStreamContext, ttl_s: float, log: Logger) -> None:
        self._js = js
        self._ttl_s = ttl_s
        self._log = log
        self._bucket: KeyValue | None = None

    async def _open(self) -> KeyValue:
        if self._bucket is None:
            self._bucket = await natsbus.responses_bucket(self._js, self._ttl_s)
        return self._bucket

    async def history(self, key_id: str, response_id: str) -> list[msgspec.Raw] | None:
        """The conversation a continuation of `response_id` starts from (its input items,
        then its output items); None when this key has no such response."""
        name = response_store_key(key_id, response_id)
        if name is None:
            return None
        try:
            entry = await (await self._open()).get(name)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        stored = STORED_DECODER.decode(entry.value)
        if stored.key_id != key_id:
            return None
        return [*stored.items, *_OUTPUT.decode(stored.response).output]

    async def save(self, key_id: str, response_id: str, response: bytes, items: list[msgspec.Raw]) -> None:
        """Store one response and the input it answered. A failure is logged, not raised:
        the caller's answer matters more than its later retrieval."""
        name = response_store_key(key_id, response_id)
        if name is None:
            self._log.warning("response_not_stored", response_id=response_id[:100], reason="unusable id")
            return
        value = STORED_ENCODER.encode(StoredResponse(key_id=key_id, response=msgspec.Raw(response), items=items))
        try:
            await (await self._open()).put(name, value)
        except (NatsError, OSError, TimeoutError) as ex:
            self._log.warning("response_not_stored", response_id=response_id, error=type(ex).__name__,
                              size=len(value))


