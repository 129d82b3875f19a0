"""Caller authentication: `Authorization: Bearer <key>` or `x-api-key: <key>` by default;
a dialect reads its caller's key where its clients send it (its `KeySource`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import falcon

from gateway.contracts.bus import KeyRecord
from gateway.contracts.errors import invalid_api_key
from gateway.keycache import KeyCache
from gateway.runtime.keys import hash_secret

Fetch = Callable[[str], "KeyRecord | None"]
MAX_CACHED_HASHES = 10_000


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where a caller's key is read from, in this order: the bearer token, then each
    header, then the query parameter."""

    bearer: bool = True  # `Authorization: Bearer <key>`
    headers: tuple[str, ...] = ("x-api-key",)
    query: str | None = None  # e.g. `?key=<key>`

    def read(self, req: falcon.Request) -> str | None:
        """The key the caller sent, or None."""
        if self.bearer:
            auth = req.get_header("authorization")
            if auth:
                scheme, _, value = auth.partition(" ")
                if scheme.lower() == "bearer" and value.strip():
                    return value.strip()
        for header in self.headers:
            key = req.get_header(header)
            if key and key.strip():
                return key.strip()
        if self.query is not None:
            key = req.get_param(self.query)
            if key and key.strip():
                return key.strip()
        return None

    def missing(self) -> str:
        """The 401 message naming where the key goes."""
        ways = (["'Authorization: Bearer <key>'"] if self.bearer else []) + [f"'{h}: <key>'" for h in self.headers]
        if self.query is not None:
            ways.append(f"'?{self.query}=<key>'")
        return f"Missing API key: send it as {' or '.join(ways)}."


OPENAI_KEYS = KeySource()


class Authenticator:
    """Key -> KeyRecord from memory, with a bucket lookup for keys not seen yet."""

    def __init__(self, cache: KeyCache, fetch: Fetch) -> None:
        self._cache = cache
        self._fetch = fetch
        self._hashes: dict[str, str] = {}

    def authenticate(self, req: falcon.Request, source: KeySource = OPENAI_KEYS) -> KeyRecord:
        """The caller's key record; 401 invalid_api_key when missing, unknown or disabled."""
        secret = source.read(req)
        if secret is None:
            raise invalid_api_key(source.missing())
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
