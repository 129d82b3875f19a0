"""The in-memory key table, kept current by a watch on the NATS KV bucket `keys`.

Requests authenticate from memory. A key not in memory yet (created a moment ago on
another host) is looked up once in the bucket before a 401, so a new key works at once;
misses are cached briefly and lookups are rate-limited per process, so a flood of wrong
keys never turns into a flood of KV reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError, NotFoundError

from gateway.contracts.bus import KEY_DECODER, KEYS_BUCKET, KeyRecord
from gateway.contracts.log import Logger
from gateway.runtime.keys import open_keys_bucket
from gateway.runtime.kvmirror import KVMirror


class KeyCache:
    """hash -> KeyRecord, fed by the bucket watch; misses checked in the bucket."""

    def __init__(self, log: Logger, miss_ttl_s: float = 2.0, lookups_per_s: float = 20.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._keys: dict[str, KeyRecord] = {}
        self._misses: dict[str, float] = {}
        self._miss_ttl_s = miss_ttl_s
        self._rate = lookups_per_s
        self._tokens = lookups_per_s
        self._last_refill = clock()
        self._clock = clock
        self.loaded = False  # True once the bucket's initial contents are in memory
        self._mirror = KVMirror(KEYS_BUCKET, self._apply, log)

    # ------------------------------------------------------------------ loop side

    async def watch(self, nc: Client) -> None:
        """(asyncio) Load every key, then follow changes in a background task."""
        await self._mirror.start(await open_keys_bucket(nc))
        self.loaded = True

    def _apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            self._keys.pop(key, None)
            return
        try:
            record = KEY_DECODER.decode(value)
        except msgspec.DecodeError:
            self._log.error("bad_key_record", key_hash_prefix=key[:8])
            return
        self._keys[key] = record
        self._misses.pop(key, None)

    async def fetch(self, nc: Client, key_hash: str) -> KeyRecord | None:
        """(asyncio) Read one key from the bucket."""
        kv = await open_keys_bucket(nc)
        try:
            entry = await kv.get(key_hash)
        except (KeyNotFoundError, NotFoundError):
            return None
        if not entry.value:
            return None
        return KEY_DECODER.decode(entry.value)

    # ------------------------------------------------------------------ request side

    def get(self, key_hash: str) -> KeyRecord | None:
        """The key if it is in memory."""
        return self._keys.get(key_hash)

    def may_look_up(self, key_hash: str) -> bool:
        """Whether a miss may be checked in the bucket now (negative cache + rate cap)."""
        now = self._clock()
        missed_at = self._misses.get(key_hash)
        if missed_at is not None and now - missed_at < self._miss_ttl_s:
            return False
        self._tokens = min(self._rate, self._tokens + (now - self._last_refill) * self._rate)
        self._last_refill = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def remember(self, key_hash: str, record: KeyRecord | None) -> None:
        """Store a looked-up key, or remember the miss."""
        if record is None:
            if len(self._misses) > 100_000:
                self._misses.clear()  # NOTE: bound memory under a flood of random keys
            self._misses[key_hash] = self._clock()
        else:
            self._keys[key_hash] = record
