"""Per-provider lanes of a worker process (issue 14, item 5)."""

from __future__ import annotations

import asyncio

from gateway.contracts.config import parse
from workers.main import lanes

CONFIG = """
[workers]
max_concurrent_jobs = 8
max_queued_jobs = 4

[providers.echo]
kind = "echo"

[providers.slow]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
max_concurrent_jobs = 2
max_queued_jobs = 0
"""


def test_each_provider_has_its_own_lane_with_its_own_limits_or_the_defaults() -> None:
    async def build() -> None:
        made = lanes(parse(CONFIG))
        assert made["echo"].capacity == 12 and made["slow"].capacity == 2
        assert made["echo"].slots is not made["slow"].slots
        for _ in range(2):
            await made["slow"].slots.acquire()
        assert made["slow"].slots.locked() and not made["echo"].slots.locked()

    asyncio.run(build())
