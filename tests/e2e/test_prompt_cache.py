"""Claude prompt caching from OpenAI-shaped requests, through the whole stack (issue 11, item 8).

The official SDK talks to the gateway; the worker sends the breakpoints to the fake
Anthropic server, which keeps a prompt cache the way Anthropic reports it (writes on the
first turn, reads on the next); the ledger prices the rows. The module runs its own stack
so it can read the ledger's database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.harness.procs import wait_until
from tests.harness.stack import Stack

KEY = "sk-ant-cache-test"
# USD per 1M tokens, as the config says them: input, cache read, cache write, output.
PRICE = (Decimal("3"), Decimal("0.30"), Decimal("3.75"), Decimal("15"))
CONFIG = """
[gateway]
idle_timeout_s = 5

[workers]
heartbeat_s = 0.5

[ledger]
ack_wait_s = 1

[providers.claude]
kind = "anthropic"
base_url = "{anthropic}"
api_key_env = "FAKE_ANTHROPIC_KEY"
timeout_s = 5

[[models]]
id = "claude-auto"
provider = "claude"
upstream = "claude-sonnet-4-5"
max_output_tokens = 4096
prompt_cache = "auto"
price = {{ input = 3.0, output = 15.0, cached_input = 0.30, cache_write_input = 3.75 }}

[[models]]
id = "claude-manual"
provider = "claude"
upstream = "claude-sonnet-4-5"
max_output_tokens = 4096
price = {{ input = 3.0, output = 15.0, cached_input = 0.30, cache_write_input = 3.75 }}
"""
EPHEMERAL = {"type": "ephemeral"}


class Cached:
    """The module's stack, its fake upstream and a client."""

    def __init__(self, stack: Stack, fake: FakeAnthropic, client: openai.OpenAI) -> None:
        self.stack, self.fake, self.client = stack, fake, client

    def sent(self) -> dict[str, Any]:
        return self.fake.requests_to("/v1/messages")[-1].json()  # type: ignore[no-any-return]

    def row(self, request_id: str) -> sqlite3.Row:
        """The ledger's usage row of one request, once the ledger has written it."""
        database = self.stack.workdir / "data" / "ledger.sqlite3"
        found: list[sqlite3.Row] = []

        def written() -> bool:
            if not database.exists():
                return False
            with sqlite3.connect(database) as conn:
                conn.row_factory = sqlite3.Row
                found[:] = conn.execute("SELECT * FROM usage WHERE request_id = ?", (request_id,)).fetchall()
            return bool(found)

        ledger = next(p for p in self.stack.procs if p.name == "ledger")
        wait_until(written, 20, f"the ledger row of {request_id}", ledger)
        return found[0]


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cached]:
    fake = FakeAnthropic(KEY).start()
    stack = Stack(tmp_path_factory.mktemp("prompt-cache"))
    try:
        config = stack.write_config("gateway.toml", CONFIG.format(anthropic=fake.url))
        stack.start_nats()
        stack.start_worker(config, providers=["claude"], FAKE_ANTHROPIC_KEY=KEY)
        stack.start_gateway(config)
        stack.start_ledger(config)
        client = openai.OpenAI(base_url=stack.base_url, api_key=stack.create_key("cache"), max_retries=0, timeout=20)
        yield Cached(stack, fake, client)
        client.close()
    finally:
        stack.close()
        fake.stop()


def cost_micro(prompt: int, read: int, written: int, completion: int) -> int:
    """The expected cost in micro-dollars, computed independently of gateway.runtime.pricing."""
    p_in, p_read, p_write, p_out = PRICE
    exact = (prompt - read - written) * p_in + read * p_read + written * p_write + completion * p_out
    return int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))


def marks(body: dict[str, Any]) -> list[str]:
    """Where the request carries breakpoints: tools[i], system[i], messages[i][j]."""
    found = [f"tools[{i}]" for i, t in enumerate(body.get("tools") or []) if "cache_control" in t]
    found += [f"system[{i}]" for i, b in enumerate(body.get("system") or []) if "cache_control" in b]
    for i, message in enumerate(body["messages"]):
        found += [f"messages[{i}][{j}]" for j, b in enumerate(message["content"]) if "cache_control" in b]
    return found


def test_the_second_turn_reads_the_cache_and_is_billed_at_the_cached_price(cached: Cached) -> None:
    system = "You are the support agent of a fictional bakery. " * 60
    tools: Any = [{"type": "function", "function": {"name": "find_order", "parameters": {"type": "object"}}}]
    history: Any = [{"role": "system", "content": system}, {"role": "user", "content": "Where is my order?"}]

    first = cached.client.chat.completions.with_raw_response.create(model="claude-auto", messages=history, tools=tools)
    sent = cached.sent()
    assert marks(sent) == ["tools[0]", "system[0]", "messages[0][0]"]
    assert sent["system"][0]["cache_control"] == EPHEMERAL
    usage = first.parse().usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0
    written_first = usage.prompt_tokens_details.cache_write_tokens or 0
    assert written_first > 500  # the tools, the long system prompt and the question

    history += [{"role": "assistant", "content": first.parse().choices[0].message.content},
                {"role": "user", "content": "It was order 42."}]
    second = cached.client.chat.completions.with_raw_response.create(model="claude-auto", messages=history, tools=tools)
    sent = cached.sent()
    assert marks(sent) == ["tools[0]", "system[0]", "messages[2][0]"]
    usage = second.parse().usage
    assert usage is not None and usage.prompt_tokens_details is not None
    read = usage.prompt_tokens_details.cached_tokens or 0
    written = usage.prompt_tokens_details.cache_write_tokens or 0
    assert read == written_first  # the whole first turn's prefix came from the cache
    assert 0 < written < read

    row = cached.row(second.headers["x-request-id"])
    assert (row["prompt_tokens"], row["cached_tokens"], row["cache_write_tokens"], row["completion_tokens"]) == (
        usage.prompt_tokens, read, written, usage.completion_tokens)
    assert row["estimated"] == 0 and row["status"] == "ok"
    assert row["cost_micro_usd"] == cost_micro(usage.prompt_tokens, read, written, usage.completion_tokens)
    full_price = cost_micro(usage.prompt_tokens, 0, 0, usage.completion_tokens)
    assert row["cost_micro_usd"] < full_price / 2  # the cached prefix is billed at a tenth


def test_callers_breakpoints_reach_claude_and_a_fifth_is_a_400(cached: Cached) -> None:
    parts: Any = [{"type": "text", "text": f"Part {c}. " * 50, "cache_control": EPHEMERAL} for c in "ABC"]
    messages: Any = [{"role": "system", "content": "Rules. " * 50, "cache_control": EPHEMERAL},
                     {"role": "user", "content": [*parts, {"type": "text", "text": "Summarise."}]}]
    for stream in (False, True):
        if stream:
            chunks = list(cached.client.chat.completions.create(
                model="claude-manual", messages=messages, stream=True, stream_options={"include_usage": True}))
            usage = chunks[-1].usage
        else:
            usage = cached.client.chat.completions.create(model="claude-manual", messages=messages).usage
        assert marks(cached.sent()) == ["system[0]", "messages[0][0]", "messages[0][1]", "messages[0][2]"]
        assert usage is not None and usage.prompt_tokens_details is not None
        if stream:  # the same prompt again: its marked prefix is read from the cache
            assert (usage.prompt_tokens_details.cached_tokens or 0) > 300
    before = len(cached.fake.requests_to("/v1/messages"))
    messages[1]["content"][3]["cache_control"] = EPHEMERAL
    with pytest.raises(openai.BadRequestError) as ex:
        cached.client.chat.completions.create(model="claude-manual", messages=messages)
    assert ex.value.body["param"] == "messages[1].content[3].cache_control"  # type: ignore[index]
    assert len(cached.fake.requests_to("/v1/messages")) == before
