"""GET /healthz, /readyz and /health on a stack of its own (issue 15: readiness follows workers)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.procs import wait_until
from tests.harness.stack import Stack

CONFIG = """
[providers.echo]
kind = "echo"

[providers.echo2]
kind = "echo"

[[models]]
id = "echo"
provider = "echo"

[[models]]
id = "echo-two"
provider = "echo2"
"""


@pytest.fixture(scope="module")
def small_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    """nats-server and a gateway for two echo providers; workers come and go in the test."""
    stack = Stack(tmp_path_factory.mktemp("health"))
    try:
        config = stack.write_config("gateway.toml", CONFIG)
        stack.start_nats()
        stack.start_gateway(config)
        yield stack, config
    finally:
        stack.close()


def get(stack: Stack, path: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a GET on the gateway, error statuses included."""
    url = f"http://127.0.0.1:{stack.gateway_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as ex:
        return ex.code, json.loads(ex.read())


def test_healthz_is_alive_without_any_worker(small_stack: tuple[Stack, Path]) -> None:
    stack, _ = small_stack
    assert get(stack, "/healthz") == (200, {"status": "alive"})
    assert get(stack, "/health") == (200, {"status": "ok"})


def test_readiness_flips_with_the_last_worker_of_a_provider(small_stack: tuple[Stack, Path]) -> None:
    stack, config = small_stack
    status, body = get(stack, "/readyz")
    assert status == 503
    assert body["status"] == "not_ready" and body["nats"] is True and body["keys"] is True
    assert body["providers"] == {"echo": False, "echo2": False}
    assert body["not_ready"] == ["provider echo: no worker answering", "provider echo2: no worker answering"]

    first = stack.start_worker(config, name="worker-1", providers=["echo", "echo2"])
    second = stack.start_worker(config, name="worker-2", providers=["echo", "echo2"])
    wait_until(lambda: get(stack, "/readyz")[0] == 200, 10, "ready with two workers")
    assert get(stack, "/readyz") == (200, {"status": "ready", "nats": True, "keys": True,
                                           "providers": {"echo": True, "echo2": True}, "not_ready": [],
                                           "unavailable": {}})

    first.stop()
    # one worker left: still ready (the cache may answer for up to a second; it must stay 200)
    for _ in range(3):
        assert get(stack, "/readyz")[0] == 200
    second.stop()
    wait_until(lambda: get(stack, "/readyz")[0] == 503, 10, "not ready once the last worker stopped")
    status, body = get(stack, "/readyz")
    assert status == 503 and body["providers"] == {"echo": False, "echo2": False}
    assert "provider echo: no worker answering" in body["not_ready"]
    assert get(stack, "/healthz")[0] == 200

    stack.start_worker(config, name="worker-3", providers=["echo", "echo2"])
    wait_until(lambda: get(stack, "/readyz")[0] == 200, 10, "ready again once a worker started")
