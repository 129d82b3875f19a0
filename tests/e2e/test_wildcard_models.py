"""Wildcard model entries end to end (issue 21): `id = "claude-*"` serves each id as asked.

The module's stack serves the shipped gateway.toml's own `claude-*` and `gpt-*` entries
(their providers pointed at the fakes), one exact entry, and a wildcard entry without a
price. A model id no exact entry names reaches the upstream as asked, comes back as asked,
and lands in the ledger priced from the wildcard entry; an unpriced one is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.harness.procs import shipped_models, wait_until
from tests.harness.stack import Stack

OPENAI_KEY, ANTHROPIC_KEY = "sk-fake-upstream", "sk-ant-fake-upstream"
NEW_CLAUDE = "claude-sonnet-4-7-new"  # configured nowhere exactly
CONFIG = """
[workers]
heartbeat_s = 0.5

[ledger]
ack_wait_s = 1

[routing]
retries = 0

[providers.openai]
kind = "openai"
base_url = "{openai}/v1"
api_key_env = "OPENAI_API_KEY"

[providers.anthropic]
kind = "anthropic"
base_url = "{anthropic}"
api_key_env = "ANTHROPIC_API_KEY"

# An alias beside the wildcard: aliases come first.
[[models]]
id = "claude-route"
provider = "anthropic"
upstream = "claude-haiku-4-5"
max_output_tokens = 4096
aliases = ["claude-opus-4-8"]
price = {{ input = 1.0, output = 5.0 }}

# A wildcard entry with no price: its ids are refused, never billed $0.
[[models]]
id = "free-*"
provider = "openai"
"""


class Wild:
    """The module's stack, fakes and clients."""

    def __init__(self, stack: Stack, oai_fake: FakeOpenAI, claude_fake: FakeAnthropic) -> None:
        self.stack, self.oai_fake, self.claude_fake = stack, oai_fake, claude_fake
        self.key = stack.create_key("wild")
        self.oai = openai.OpenAI(base_url=stack.base_url, api_key=self.key, max_retries=0, timeout=20)
        self.claude = anthropic.Anthropic(base_url=stack.base_url.removesuffix("/v1"), api_key=self.key,
                                          max_retries=0, timeout=20)

    def rows(self, request_id: str) -> list[sqlite3.Row]:
        with sqlite3.connect(self.stack.workdir / "data" / "ledger.sqlite3") as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute("SELECT * FROM usage WHERE request_id = ?", (request_id,)).fetchall()


@pytest.fixture(scope="module")
def wild(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wild]:
    oai_fake, claude_fake = FakeOpenAI(OPENAI_KEY).start(), FakeAnthropic(ANTHROPIC_KEY).start()
    stack = Stack(tmp_path_factory.mktemp("wildcard"))
    try:
        text = CONFIG.format(openai=oai_fake.url, anthropic=claude_fake.url)
        config = stack.write_config("gateway.toml", text + shipped_models("claude-*", "gpt-*"))
        stack.start_nats()
        stack.start_worker(config, providers=["openai", "anthropic"], OPENAI_API_KEY=OPENAI_KEY,
                           ANTHROPIC_API_KEY=ANTHROPIC_KEY)
        stack.start_gateway(config)
        stack.start_ledger(config)
        yield Wild(stack, oai_fake, claude_fake)
    finally:
        stack.close()
        oai_fake.stop()
        claude_fake.stop()


def test_an_id_no_entry_names_is_served_by_claude_star_as_asked_and_billed_at_its_price(wild: Wild) -> None:
    raw = wild.claude.messages.with_raw_response.create(
        model=NEW_CLAUDE, max_tokens=1024, messages=[{"role": "user", "content": "Hello!"}])
    message = raw.parse()
    assert message.model == NEW_CLAUDE and message.stop_reason == "end_turn"
    assert wild.claude_fake.bodies[-1]["model"] == NEW_CLAUDE  # the id went upstream as asked
    request_id = raw.headers["x-request-id"]
    wait_until(lambda: bool(wild.rows(request_id)), 15, "the ledger row")
    [row] = wild.rows(request_id)
    # The shipped `claude-*` entry's price: $3 / $15 per 1M tokens, i.e. micro-dollars a token.
    prompt, output = message.usage.input_tokens, message.usage.output_tokens
    assert (row["model"], row["priced"], Decimal(row["price_input"])) == (NEW_CLAUDE, 1, Decimal("3"))
    assert row["cost_micro_usd"] == prompt * 3 + output * 15 > 0
    # Metrics name the entry, not each id a caller makes up: the series stay bounded.
    metrics = httpx.get(f"http://127.0.0.1:{wild.stack.gateway_port}/metrics").text
    assert NEW_CLAUDE not in metrics
    assert 'gateway_requests_total{model="claude-*",provider="anthropic",route="/v1/messages",status="200"}' in metrics


def test_an_alias_comes_before_the_wildcard(wild: Wild) -> None:
    message = wild.claude.messages.create(model="claude-opus-4-8", max_tokens=64,
                                          messages=[{"role": "user", "content": "Hi"}])
    assert message.model == "claude-route" and wild.claude_fake.bodies[-1]["model"] == "claude-haiku-4-5"


def test_gpt_star_serves_a_chat_caller_with_the_id_as_asked(wild: Wild) -> None:
    completion = wild.oai.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "Hi"}])
    assert completion.model == "gpt-4.1-mini" and completion.choices[0].message.content == "fake: Hi"
    assert wild.oai_fake.requests_to("/chat/completions")[-1].json()["model"] == "gpt-4.1-mini"


@pytest.mark.parametrize("dialect", ["chat", "messages"])
def test_an_id_of_a_wildcard_entry_without_a_price_is_refused_naming_it(wild: Wild, dialect: str) -> None:
    before = wild.oai_fake.chat_count()
    error: Any
    if dialect == "chat":
        with pytest.raises(openai.BadRequestError) as chat:
            wild.oai.chat.completions.create(model="free-model-1", messages=[{"role": "user", "content": "Hi"}])
        error = chat.value.body
        assert isinstance(error, dict) and (error["code"], error["param"]) == ("model_unpriced", "model")
    else:
        with pytest.raises(anthropic.BadRequestError) as messages:
            wild.claude.messages.create(model="free-model-1", max_tokens=64, messages=[{"role": "user", "content": "Hi"}])
        error = messages.value.body
        assert isinstance(error, dict) and error["error"]["type"] == "invalid_request_error"
        error = error["error"]
    assert "'free-model-1'" in error["message"] and "'free-*'" in error["message"]
    assert wild.oai_fake.chat_count() == before  # nothing went upstream


def test_the_allow_list_applies_to_the_id_asked(wild: Wild) -> None:
    key = wild.stack.create_key("sonnets", ["claude-sonnet-*"])
    client = anthropic.Anthropic(base_url=wild.stack.base_url.removesuffix("/v1"), api_key=key, max_retries=0)
    assert client.messages.create(model=NEW_CLAUDE, max_tokens=64,
                                  messages=[{"role": "user", "content": "Hi"}]).model == NEW_CLAUDE
    with pytest.raises(anthropic.PermissionDeniedError):
        client.messages.create(model="claude-haiku-9", max_tokens=64, messages=[{"role": "user", "content": "Hi"}])


def test_models_lists_the_concrete_ids_and_each_wildcard_pattern(wild: Wild) -> None:
    listed = httpx.get(f"{wild.stack.base_url}/models", headers={"authorization": f"Bearer {wild.key}"}).json()
    assert [m["id"] for m in listed["data"]] == ["claude-route", "free-*", "claude-*", "gpt-*"]
    assert wild.oai.models.retrieve("claude-*").id == "claude-*"
    assert wild.oai.models.retrieve(NEW_CLAUDE).owned_by == "anthropic"
