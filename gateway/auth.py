"""Caller authentication: `Authorization: Bearer <key>` or `x-api-key: <key>`."""

from __future__ import annotations

from collections.abc import Callable

import falcon

from gateway.contracts.bus import KeyRecord
from gateway.contracts.errors import invalid_api_key
from gateway.keycache import KeyCache
from gateway.runtime.keys import hash_secret

Fetch = Callable[[str], "KeyRecord | None"]
MAX_CACHED_HASHES = 10_000


def secret_of(req: falcon.Request) -> str | None:
    """The key the caller sent, from either header."""
    auth = req.get_header("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = req.get_header("x-api-key")
    return key.strip() if key and key.strip() else None


class Authenticator:
    """Key -> KeyRecord from memory, with a bucket lookup for keys not seen yet."""

    def __init__(self, cache: KeyCache, fetch: Fetch) -> None:
        self._cache = cache
        self._fetch = fetch
        self._hashes: dict[str, str] = {}

    def authenticate(self, req: falcon.Request) -> KeyRecord:
        """The caller's key record; 401 invalid_api_key when missing, unknown or disabled."""
        secret = secret_of(req)
        if secret is None:
            raise invalid_api_key(
                "Missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'."
            )
        key_hash = self._hashes.get(secret) or hash_secret(secret)
        record = self._cache.get(key_hash)
        if record is None and self._cache.may_look_up(key_hash):
            record = self._fetch(key_hash)
            self._cache.remember(key_hash, record)
        if record is None:
            raise invalid_api_key("Incorrect API key provided.")
        if record.disabled:
            raise invalid_api_key("This API key has been disabled.")
        if len(self._hashes) >= MAX_CACHED_HASHES:
            self._hashes.clear()
        self._hashes[secret] = key_hash  # PERF: only keys that exist; a flood of wrong ones adds nothing
        return record
