"""The JSON logger's NATS error callback: a reconnect storm becomes a few lines."""

from __future__ import annotations

import asyncio
import io
import json

from gateway.contracts.log import Logger


def test_repeated_nats_errors_are_logged_once_per_interval_with_a_count() -> None:
    out = io.StringIO()
    callback = Logger("worker", stream=out).nats_error_callback(every_s=60)

    async def storm() -> None:
        for _ in range(50):
            await callback(ConnectionRefusedError("refused"))
        await callback(TimeoutError("slow"))

    asyncio.run(storm())
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["error"] for line in lines] == ["ConnectionRefusedError: refused", "TimeoutError: slow"]
    assert lines[0]["event"] == "nats_error" and lines[0]["repeated"] == 0


def test_after_the_interval_the_next_error_says_how_many_were_held_back() -> None:
    out = io.StringIO()
    now = [100.0]
    callback = Logger("worker", stream=out).nats_error_callback(every_s=10, clock=lambda: now[0])

    async def outage() -> None:
        for _ in range(20):  # twice a second for 10 s
            await callback(ConnectionRefusedError("refused"))
            now[0] += 0.5
        await callback(ConnectionRefusedError("refused"))

    asyncio.run(outage())
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["repeated"] for line in lines] == [0, 19]
