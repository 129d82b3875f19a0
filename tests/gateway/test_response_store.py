"""Stored responses' one home (gateway/runtime/response_store.py) on a real nats-server:
a key reads and deletes only its own responses; an id that cannot be a bucket key is absent."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest
from nats.aio.client import Client

from gateway.runtime.response_store import StoredResponses, encode_stored
from tests.harness.stack import Stack


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("response_store"))
    try:
        stack.start_nats()
        yield stack
    finally:
        stack.close()


def test_a_key_finds_and_deletes_only_its_own_responses(bus: Stack) -> None:
    async def work(nc: Client) -> None:
        js = nc.jetstream()
        store = StoredResponses(60.0)
        value = encode_stored("key_a", b'{"id":"resp_1","output":[]}', [msgspec.Raw(b'{"role":"user"}')])
        assert await store.put(js, "key_a", "resp_1", value)
        stored = await store.get(js, "key_a", "resp_1")
        assert stored is not None and bytes(stored.response) == b'{"id":"resp_1","output":[]}'
        assert [bytes(i) for i in stored.items] == [b'{"role":"user"}']
        assert await StoredResponses(60.0).get(js, "key_b", "resp_1") is None  # another key: absent
        assert not await store.delete(js, "key_b", "resp_1")
        assert await store.delete(js, "key_a", "resp_1")
        assert await store.get(js, "key_a", "resp_1") is None
        assert not await store.delete(js, "key_a", "resp_1")
        # an id that cannot be part of a bucket key is never stored nor found
        assert not await store.put(js, "key_a", "bad id*", value)
        assert await store.get(js, "key_a", "bad id*") is None

    bus.run(work)
