"""gateway/contracts/log.py: JSON lines, the level from LOG_LEVEL, and a NATS reconnect storm as a few lines."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from gateway.contracts.log import Logger


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_one_json_object_per_line_with_the_request_id() -> None:
    out = io.StringIO()
    Logger("gateway", stream=out, level=20).info("access", request_id="req_1", status=200)
    [line] = lines(out)
    assert line["process"] == "gateway" and line["event"] == "access" and line["level"] == "info"
    assert line["request_id"] == "req_1" and line["status"] == 200


@pytest.mark.parametrize(("env", "written"), [
    ("debug", ["d", "i", "w", "e"]), ("info", ["i", "w", "e"]), ("WARNING", ["w", "e"]), ("error", ["e"]),
    ("nonsense", ["i", "w", "e"]),
])
def test_the_level_comes_from_log_level(monkeypatch: pytest.MonkeyPatch, env: str, written: list[str]) -> None:
    monkeypatch.setenv("LOG_LEVEL", env)
    out = io.StringIO()
    log = Logger("worker", stream=out)
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    assert [line["event"] for line in lines(out)] == written


def test_without_log_level_info_and_above_are_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    out = io.StringIO()
    log = Logger("ledger", stream=out)
    log.debug("hidden")
    log.info("shown")
    assert [line["event"] for line in lines(out)] == ["shown"]


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
