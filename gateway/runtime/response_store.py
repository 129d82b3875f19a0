"""Stored /v1/responses in the NATS KV bucket `responses`: the one home of its key layout
and encoding, used by the worker (which writes an answer and reads a
`previous_response_id`, workers/dialects/responses/store.py) and the gateway (GET and
DELETE /v1/responses/{id}, gateway/resources/responses.py).

A value is a `StoredResponse` (gateway/contracts/openai_responses.py) under
`<key id>.<response id>` (gateway/contracts/bus.py `response_store_key`), and it is
returned only when its own `key_id` matches, so a key only ever finds its own responses
(any other id, or one that cannot be a bucket key, reads as absent). The bucket is
opened (created on first use, values living `ttl_s`) on the first call and kept.
"""

from __future__ import annotations

import msgspec
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from gateway.contracts.bus import response_store_key
from gateway.contracts.openai_responses import STORED_DECODER, STORED_ENCODER, StoredResponse
from gateway.runtime import natsbus


def encode_stored(key_id: str, response: bytes, items: list[msgspec.Raw]) -> bytes:
    """The bucket value of one response (its JSON) and the input items it answered."""
    return STORED_ENCODER.encode(StoredResponse(key_id=key_id, response=msgspec.Raw(response), items=items))


class StoredResponses:
    """get / put / delete of one key's stored responses (asyncio)."""

    # The bucket exists once the gateway ran; this is only used when a CLI creates it first.
    DEFAULT_TTL_S = 30 * 24 * 3600.0

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._bucket: KeyValue | None = None

    async def _open(self, js: JetStreamContext) -> KeyValue:
        if self._bucket is None:
            self._bucket = await natsbus.responses_bucket(js, self._ttl_s)
        return self._bucket

    async def get(self, js: JetStreamContext, key_id: str, response_id: str) -> StoredResponse | None:
        """The key's stored response with this id, or None."""
        name = response_store_key(key_id, response_id)
        if name is None:
            return None
        try:
            entry = await (await self._open(js)).get(name)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        stored = STORED_DECODER.decode(entry.value)
        return stored if stored.key_id == key_id else None

    async def put(self, js: JetStreamContext, key_id: str, response_id: str, value: bytes) -> bool:
        """Store `value` (from `encode_stored`); False when the id cannot be a bucket key.
        NATS failures are raised: the caller decides what a lost write costs."""
        name = response_store_key(key_id, response_id)
        if name is None:
            return False
        await (await self._open(js)).put(name, value)
        return True

    async def delete(self, js: JetStreamContext, key_id: str, response_id: str) -> bool:
        """Delete the key's stored response with this id; False when there was none."""
        if await self.get(js, key_id, response_id) is None:
            return False
        name = response_store_key(key_id, response_id)
        assert name is not None  # NOTE: get() found it under this name
        await (await self._open(js)).delete(name)
        return True


async def stored_ids(js: JetStreamContext, key_id: str) -> list[str]:
    """The response ids stored for one API key (`scripts/keys responses list`)."""
    bucket = await natsbus.responses_bucket(js, StoredResponses.DEFAULT_TTL_S)
    try:
        names = await bucket.keys()  # NOTE: nats-py's `filters` are substrings, and warn on stderr
    except NoKeysError:
        return []
    return sorted(n.split(".", 1)[1] for n in names if n.startswith(f"{key_id}."))


async def purge_key(js: JetStreamContext, key_id: str) -> int:
    """Purge every response stored for one API key; how many there were."""
    ids = await stored_ids(js, key_id)
    bucket = await natsbus.responses_bucket(js, StoredResponses.DEFAULT_TTL_S)
    for response_id in ids:
        await bucket.purge(f"{key_id}.{response_id}")
    return len(ids)
