"""The KV mirror (gateway/runtime/kvmirror.py) against a real nats-server: initial values,
changes and deletions reach `apply`, a failing `apply` skips one entry, `stop()` ends it."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import pytest
from nats.aio.client import Client

from gateway.contracts.bus import KEYS_BUCKET
from gateway.contracts.log import Logger
from gateway.runtime.keys import open_keys_bucket
from gateway.runtime.kvmirror import KVMirror
from tests.harness.stack import Stack


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("kvmirror"))
    try:
        stack.start_nats()
        yield stack
    finally:
        stack.close()


async def settled(check: object, timeout: float = 5.0) -> None:
    async def wait() -> None:
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.01)
    await asyncio.wait_for(wait(), timeout)


def test_initial_values_changes_and_deletions_reach_apply(bus: Stack) -> None:
    async def work(nc: Client) -> dict[str, bytes]:
        kv = await open_keys_bucket(nc)
        for key in await _keys(kv):
            await kv.purge(key)
        await kv.put("a1", b"one")
        await kv.put("b2", b"two")
        seen: dict[str, bytes] = {}

        def apply(key: str, value: bytes | None) -> None:
            if value is None:
                seen.pop(key, None)
            else:
                seen[key] = value

        mirror = KVMirror(KEYS_BUCKET, apply, Logger("test", io.StringIO()))
        await mirror.start(kv)
        assert mirror.loaded and mirror.running and seen == {"a1": b"one", "b2": b"two"}
        await kv.put("c3", b"three")
        await kv.delete("a1")
        await settled(lambda: "c3" in seen and "a1" not in seen)
        await mirror.stop()
        assert not mirror.running
        await kv.put("d4", b"four")
        await asyncio.sleep(0.2)
        await mirror.stop()  # twice is fine
        return seen

    assert bus.run(work) == {"b2": b"two", "c3": b"three"}  # nothing after stop()


def test_an_empty_bucket_loads_and_a_failing_apply_skips_one_entry(bus: Stack) -> None:
    async def work(nc: Client) -> tuple[list[str], str]:
        kv = await open_keys_bucket(nc)
        for key in await _keys(kv):
            await kv.purge(key)
        seen: list[str] = []
        out = io.StringIO()

        def apply(key: str, value: bytes | None) -> None:
            if value == b"bad":
                raise ValueError("a bug in one table")
            if value is not None:
                seen.append(key)

        mirror = KVMirror(KEYS_BUCKET, apply, Logger("test", out))
        await mirror.start(kv)
        assert mirror.loaded and seen == []
        await kv.put("x1", b"bad")
        await kv.put("x2", b"good")
        await settled(lambda: seen == ["x2"])
        assert mirror.running
        await mirror.stop()
        return seen, out.getvalue()

    seen, logged = bus.run(work)
    assert seen == ["x2"] and "kv_mirror_apply_failed" in logged and "ValueError" in logged


async def _keys(kv: object) -> list[str]:
    from nats.js.errors import NoKeysError

    try:
        return list(await kv.keys())  # type: ignore[attr-defined]
    except NoKeysError:
        return []
