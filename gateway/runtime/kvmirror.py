"""One NATS KV bucket mirrored into memory: its initial values, then every change.

The gateway keeps three tables this way (keys in gateway/keycache.py, cooldowns in
gateway/cooldowns.py, the ledger's balances in gateway/budget.py); each gives a `KVMirror`
an `apply(key, value)` callback (value None: the key was deleted or purged) and the
mirror does the rest:

- `start(kv)` returns once the bucket's contents at that moment are applied (or raises
  TimeoutError), so a caller can say "loaded" and mean it;
- the watch is followed in one task the mirror owns (the reference is kept, so it is
  never collected mid-flight, and `stop()` cancels and awaits it);
- an `apply` that raises is logged and the entry skipped: one bad record never ends the
  mirror; a watch that fails is logged and opened again after `retry_s` (a new watch
  sends every current value again, which each table applies idempotently).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from nats.js.kv import KeyValue

from gateway.contracts.log import Logger

Apply = Callable[[str, bytes | None], None]
INITIAL_TIMEOUT_S = 30.0
RETRY_S = 1.0
_DELETED = ("DEL", "PURGE")


class KVMirror:
    """Feeds one bucket's values to `apply` from an owned background task."""

    def __init__(self, bucket: str, apply: Apply, log: Logger, retry_s: float = RETRY_S) -> None:
        self.bucket = bucket
        self._apply = apply
        self._log = log
        self._retry_s = retry_s
        self._task: asyncio.Task[None] | None = None
        self._watcher: Any = None  # nats-py's KeyWatcher (unannotated there)
        self.loaded = False  # True once the initial contents are applied

    @property
    def running(self) -> bool:
        """Whether the follow task is alive."""
        return self._task is not None and not self._task.done()

    async def start(self, kv: KeyValue, timeout_s: float = INITIAL_TIMEOUT_S) -> None:
        """(asyncio) Apply the bucket's current values, then follow it in the background."""
        await self.stop()
        initial = asyncio.Event()
        self._watcher = await kv.watchall()
        self._task = asyncio.get_running_loop().create_task(self._run(kv, initial))
        try:
            await asyncio.wait_for(initial.wait(), timeout_s)
        except asyncio.TimeoutError:
            await self.stop()
            raise
        self.loaded = True

    async def stop(self) -> None:
        """(asyncio) End the follow task and its watch; safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_watcher()

    async def _run(self, kv: KeyValue, initial: asyncio.Event) -> None:
        while True:
            try:
                if self._watcher is None:
                    self._watcher = await kv.watchall()
                await self._follow(self._watcher, initial)
                return  # the watch was stopped
            except asyncio.CancelledError:
                raise
            except Exception as ex:  # noqa: BLE001 - a mirror outlives any one failure, logged
                self._log.error("kv_mirror_failed", bucket=self.bucket, error=type(ex).__name__)
                await self._close_watcher()
                await asyncio.sleep(self._retry_s)

    async def _follow(self, watcher: Any, initial: asyncio.Event) -> None:
        async for entry in watcher:
            if entry is None:  # the end of the initial values
                initial.set()
                continue
            deleted = entry.operation in _DELETED or not entry.value
            try:
                self._apply(entry.key, None if deleted else entry.value)
            except Exception as ex:  # noqa: BLE001 - one bad entry is skipped, logged
                self._log.error("kv_mirror_apply_failed", bucket=self.bucket, error=type(ex).__name__)
            if entry.delta == 0:
                initial.set()

    async def _close_watcher(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            with contextlib.suppress(Exception):
                await watcher.stop()
