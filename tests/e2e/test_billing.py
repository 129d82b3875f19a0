"""Billing end to end: real nats-server, worker, gateway and ledger; the openai SDK as client.

Every check reads the books through `scripts/billing-report --format json` (a subprocess,
as an operator runs it) or the ledger's database file, never through ledger internals.
The stack is this module's own: its config sets prices and a short `ack_wait_s`, so a
killed ledger's unacknowledged batch comes back within a second. Its echo models are the
shipped gateway.toml's own entries, nominal prices included.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import nats
import openai
import pytest
from nats.aio.client import Client
from openai import Omit
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionStreamOptionsParam

from gateway.contracts.bus import (
    BALANCE_DECODER,
    BALANCES_BUCKET,
    CREDIT_SUBJECT,
    EVENT_ENCODER,
    MSG_ID_HEADER,
    USAGE_STREAM,
    USAGE_SUBJECT,
    BalanceRecord,
    KeyRecord,
    UsageEvent,
)
from gateway.runtime.keys import create_key
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import PROMPT_TOKENS, FakeOpenAI
from tests.harness.procs import ROOT, Proc, shipped_models, wait_until
from tests.harness.stack import Stack

FAKE_KEY = "sk-fake-upstream"
# USD per 1M tokens: (input, cached input, output); exact decimals, as the config says them.
PRICES = {
    "echo": (Decimal("1"), Decimal("1"), Decimal("2")),  # the shipped gateway.toml's nominal prices
    "echo-embed": (Decimal("1"), Decimal("1"), Decimal("0")),
    "gpt-test": (Decimal("2.5"), Decimal("1.25"), Decimal("10")),
    "gpt-cheap": (Decimal("0.15"), Decimal("0.15"), Decimal("0.6")),
    "embed-test": (Decimal("0.02"), Decimal("0.02"), Decimal("0")),
    "claude-test": (Decimal("3"), Decimal("3"), Decimal("15")),
}
FAKE_ANTHROPIC_KEY = "sk-ant-fake-upstream"
CONFIG = """
[gateway]
idle_timeout_s = 3

[workers]
heartbeat_s = 0.5

[ledger]
ack_wait_s = 1
batch_size = 8

[providers.echo]
kind = "echo"

[providers.fakeoai]
kind = "openai"
base_url = "{fake}/v1"
api_key_env = "FAKE_OPENAI_KEY"
timeout_s = 5

[providers.claude]
kind = "anthropic"
base_url = "{anthropic}"
api_key_env = "FAKE_ANTHROPIC_KEY"
timeout_s = 5

[[models]]
id = "claude-test"
provider = "claude"
max_output_tokens = 4096
price = {{ input = 3.0, output = 15.0 }}

[[models]]
id = "gpt-test"
provider = "fakeoai"
upstream = "gpt-upstream"
price = {{ input = 2.5, output = 10.0, cached_input = 1.25 }}

[[models]]
id = "gpt-cheap"
provider = "fakeoai"
price = {{ input = 0.15, output = 0.60 }}

[[models]]
id = "gpt-pricey"
provider = "fakeoai"
price = {{ input = 100.0, output = 1000.0 }}

[[models]]
id = "embed-test"
provider = "fakeoai"
kind = "embedding"
price = {{ input = 0.02, output = 0.0 }}
"""


class Books:
    """The module's stack plus the ways to read its ledger."""

    def __init__(self, stack: Stack, config: Path) -> None:
        self.stack = stack
        self.config = config
        self.database = stack.workdir / "data" / "ledger.sqlite3"
        self.clients: list[openai.OpenAI] = []

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "GATEWAY_CONFIG": str(self.config), "NATS_URL": self.stack.nats_url,
                "GATEWAY_DATA_DIR": str(self.stack.workdir / "data")}

    def ledger(self) -> Proc:
        return next(p for p in reversed(self.stack.procs) if p.name == "ledger")

    def report(self, *args: str) -> dict[str, Any]:
        """`scripts/billing-report --format json ARGS`, parsed."""
        out = subprocess.run([str(ROOT / "scripts" / "billing-report"), "--format", "json", *args], cwd=ROOT,
                             env=self.env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    def wait_for_requests(self, key: str, count: int, timeout: float = 20.0) -> dict[str, Any]:
        """The report of `key` once it shows `count` requests (raises on timeout or more)."""
        found: dict[str, Any] = {}

        def check() -> bool:
            found.update(self.report("--key", key))
            seen = sum(r["requests"] for r in found["rows"])
            assert seen <= count, f"{seen} requests billed for {count} made"
            return bool(seen == count)

        wait_until(check, timeout, f"{count} requests of {key} in the report", self.ledger())
        return found

    def rows(self, key_name: str) -> list[sqlite3.Row]:
        """The key's usage rows, straight from the database file."""
        with sqlite3.connect(self.database) as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute("SELECT * FROM usage WHERE key_name = ? ORDER BY request_id", (key_name,)).fetchall()

    def caught_up(self) -> bool:
        """Whether the ledger's durable consumer has nothing pending or unacked."""
        async def info(nc: Client) -> bool:
            consumer = await nc.jetstream().consumer_info(USAGE_STREAM, "ledger")
            return bool(consumer.num_pending == 0 and consumer.num_ack_pending == 0)
        return self.stack.run(info)

    def settled(self) -> bool:
        """Caught up, and every message of the stream acknowledged: nothing is left to be
        delivered again (a message the killed ledger took but never acked counts as
        pending until it is redelivered and acked)."""
        async def info(nc: Client) -> bool:
            js = nc.jetstream()
            last = (await js.stream_info(USAGE_STREAM)).state.last_seq
            consumer = await js.consumer_info(USAGE_STREAM, "ledger")
            return bool(consumer.num_pending == 0 and consumer.num_ack_pending == 0
                        and consumer.ack_floor is not None and consumer.ack_floor.stream_seq == last)
        return self.stack.run(info)

    def held(self, key_id: str) -> int:
        """What the key's requests in flight hold (tests/harness/stack.py)."""
        return self.stack.held(key_id)

    def gateways_followed_the_last_credit(self) -> bool:
        """Whether every gateway process's follower of USAGE (an ordered consumer filtered
        on the credits and metered usage) was delivered the last credit on the stream."""
        async def info(nc: Client) -> bool:
            js = nc.jetstream()
            credit_seq = (await js.get_last_msg(USAGE_STREAM, CREDIT_SUBJECT)).seq
            assert credit_seq is not None
            followers = [c for c in await js.consumers_info(USAGE_STREAM)
                         if CREDIT_SUBJECT in (c.config.filter_subjects or [])]
            assert len(followers) <= 1, "one gateway process in this module"
            return bool(followers) and all(c.delivered is not None and (c.delivered.stream_seq or 0) >= credit_seq
                                           for c in followers)
        return self.stack.run(info)


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Books]:
    """nats-server, a worker, a gateway, the ledger and a fake OpenAI, for this module."""
    fake = FakeOpenAI(FAKE_KEY).start()
    fake_anthropic = FakeAnthropic(FAKE_ANTHROPIC_KEY).start()
    stack = Stack(tmp_path_factory.mktemp("billing"))
    try:
        config = stack.write_config("gateway.toml", CONFIG.format(fake=fake.url, anthropic=fake_anthropic.url)
                                    + shipped_models("echo", "echo-embed"))
        stack.start_nats()
        start_worker(stack, config)
        stack.start_gateway(config)
        stack.start_ledger(config)
        books = Books(stack, config)
        yield books
        for client in books.clients:
            client.close()  # idle keep-alive connections would hold up the gateway's graceful stop
    finally:
        stack.close()
        fake.stop()
        fake_anthropic.stop()


def start_worker(stack: Stack, config: Path) -> None:
    stack.start_worker(config, providers=["echo", "fakeoai", "claude"], FAKE_OPENAI_KEY=FAKE_KEY,
                       FAKE_ANTHROPIC_KEY=FAKE_ANTHROPIC_KEY)


def new_key(books: Books, name: str) -> tuple[KeyRecord, openai.OpenAI]:
    record, secret = books.stack.run(lambda nc: create_key(nc, name, ["*"], None, None, None))
    client = openai.OpenAI(base_url=books.stack.base_url, api_key=secret, max_retries=0, timeout=20)
    books.clients.append(client)
    return record, client


def cost_micro(model: str, prompt: int, cached: int, completion: int) -> int:
    """The expected cost, computed independently of gateway.runtime.pricing."""
    p_in, p_cached, p_out = PRICES[model]
    exact = (prompt - cached) * p_in + cached * p_cached + completion * p_out
    return int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))


def usd(micro: int) -> str:
    return f"{Decimal(micro) / 1_000_000:.6f}"


def by_model(report: dict[str, Any]) -> dict[str, tuple[int, int, int, int, Decimal]]:
    """Rows summed over days: model -> (requests, prompt, cached, completion, cost)."""
    totals: dict[str, tuple[int, int, int, int, Decimal]] = {}
    for r in report["rows"]:
        n, p, c, o, cost = totals.get(r["model"], (0, 0, 0, 0, Decimal(0)))
        totals[r["model"]] = (n + r["requests"], p + r["prompt_tokens"], c + r["cached_tokens"],
                              o + r["completion_tokens"], cost + Decimal(r["cost_usd"]))
    return totals


def chat(client: openai.OpenAI, model: str, text: str, stream: bool = False,
         include_usage: bool = False) -> tuple[int, int, int]:
    """One chat request; the (prompt, cached, completion) tokens the client was told, if it was."""
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": text}]
    if not stream:
        usage = client.chat.completions.create(model=model, messages=messages).usage
    else:
        options: ChatCompletionStreamOptionsParam | Omit = {"include_usage": True} if include_usage else openai.omit
        chunks = list(client.chat.completions.create(model=model, messages=messages, stream=True,
                                                     stream_options=options))
        usage = chunks[-1].usage
        if not include_usage:
            # The fake upstream's fixed usage: it told the worker, the client did not ask.
            return PROMPT_TOKENS, 3, len(f"fake: {text}".split(" "))
    assert usage is not None
    details = usage.prompt_tokens_details
    return usage.prompt_tokens, (details.cached_tokens or 0) if details else 0, usage.completion_tokens


def test_every_request_is_one_row_with_the_tokens_the_upstream_served(books: Books) -> None:
    _, client = new_key(books, "bill-mix")
    served: list[tuple[str, tuple[int, int, int]]] = [
        ("gpt-test", chat(client, "gpt-test", "one two")),
        ("gpt-test", chat(client, "gpt-test", "a b c d")),
        ("gpt-test", chat(client, "gpt-test", "streamed without usage", stream=True)),
        ("gpt-test", chat(client, "gpt-test", "streamed with usage", stream=True, include_usage=True)),
        ("gpt-cheap", chat(client, "gpt-cheap", "cheap words here")),
        ("gpt-cheap", chat(client, "gpt-cheap", "cheap stream", stream=True, include_usage=True)),
        ("echo", chat(client, "echo", "hello there world")),
        ("echo", chat(client, "echo", "echo me back please now", stream=True, include_usage=True)),
    ]
    embedding = client.embeddings.create(model="embed-test", input=["first", "second"])
    served.append(("embed-test", (embedding.usage.prompt_tokens, 0, 0)))
    assert served[0][1] == (PROMPT_TOKENS, 3, 3)  # "fake: one two"

    report = books.wait_for_requests("bill-mix", len(served))
    expected: dict[str, tuple[int, int, int, int, Decimal]] = {}
    for model, (prompt, cached, completion) in served:
        n, p, c, o, cost = expected.get(model, (0, 0, 0, 0, Decimal(0)))
        expected[model] = (n + 1, p + prompt, c + cached, o + completion,
                           cost + Decimal(usd(cost_micro(model, prompt, cached, completion))))
    assert by_model(report) == expected
    rows = books.rows("bill-mix")
    assert len(rows) == len(served) == len({r["request_id"] for r in rows})
    assert {r["stream"] for r in rows} == {0, 1}
    assert report["balances"]["bill-mix"]["balance_usd"] is None  # never credited: unmetered
    spent = sum(Decimal(r["cost_usd"]) for r in report["rows"])
    assert Decimal(report["balances"]["bill-mix"]["spent_usd"]) == spent


def test_ledger_killed_while_events_arrive_loses_nothing_and_counts_nothing_twice(books: Books) -> None:
    _, client = new_key(books, "bill-kill")
    total = 40
    served: list[tuple[int, int, int]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        usage = chat(client, "echo", f"request {i} " + "word " * (i % 5), stream=i % 2 == 0, include_usage=True)
        with lock:
            served.append(usage)

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(one, i) for i in range(total)]
        wait_until(lambda: len(books.rows("bill-kill")) >= 3, 15, "first rows of bill-kill", books.ledger())
        books.ledger().signal(signal.SIGKILL)  # mid-stream of events: some committed, some in flight
        books.ledger().popen.wait(5)
        for future in futures:
            future.result()
    assert len(served) == total
    books.stack.start_ledger(books.config)

    report = books.wait_for_requests("bill-kill", total)
    prompt, cached, completion = (sum(u[i] for u in served) for i in range(3))
    expected_cost = sum(Decimal(usd(cost_micro("echo", *u))) for u in served)
    assert by_model(report) == {"echo": (total, prompt, cached, completion, expected_cost)}
    assert len(books.rows("bill-kill")) == total
    # every message acked, the killed ledger's unacked ones redelivered and acked too: any
    # double count would be in the books now
    wait_until(books.settled, 30, "every usage message acked by the ledger", books.ledger())
    assert books.report("--key", "bill-kill") == report
    assert len(books.rows("bill-kill")) == total


def test_the_whole_stream_delivered_again_changes_nothing(books: Books) -> None:
    # What a ledger killed between commit and ack sees, for every event at once: the
    # durable consumer is deleted, so the restarted ledger gets the stream from the start.
    wait_until(books.caught_up, 15, "ledger caught up")
    before = books.report()
    books.ledger().stop()

    async def forget(nc: Client) -> int:
        await nc.jetstream().delete_consumer(USAGE_STREAM, "ledger")
        return int((await nc.jetstream().stream_info(USAGE_STREAM)).state.messages)

    messages = books.stack.run(forget)
    books.stack.start_ledger(books.config)
    wait_until(books.caught_up, 15, "ledger caught up again")
    assert books.report() == before
    batches = [json.loads(line) for line in books.ledger().log_text().splitlines() if '"ledger_batch"' in line]
    assert sum(b["count"] for b in batches) == messages
    assert sum(b["inserted"] + b["replaced"] + b["credits"] for b in batches) == 0


def publish(books: Books, events: list[tuple[UsageEvent, str]]) -> None:
    async def send(nc: Client) -> None:
        js = nc.jetstream()
        for event, msg_id in events:
            await js.publish(USAGE_SUBJECT, EVENT_ENCODER.encode(event), headers={MSG_ID_HEADER: msg_id})
    books.stack.run(send)


def test_the_same_usage_event_published_twice_is_one_row(books: Books) -> None:
    now = time.time()
    event = UsageEvent(request_id="dup-1", key_id="key_dup", key_name="bill-dup", model="gpt-cheap",
                       provider="fakeoai", prompt_tokens=100, cached_tokens=0, completion_tokens=50,
                       total_tokens=150, started_at=now - 1, finished_at=now)
    failure = UsageEvent(request_id="dup-2", key_id="key_dup", key_name="bill-dup", model="gpt-test",
                         provider="fakeoai", status="error", error_code="worker_lost", source="gateway",
                         started_at=now - 1, finished_at=now)
    real = UsageEvent(request_id="dup-2", key_id="key_dup", key_name="bill-dup", model="gpt-test",
                      provider="fakeoai", prompt_tokens=11, cached_tokens=3, completion_tokens=7,
                      total_tokens=18, status="cancelled", started_at=now - 1, finished_at=now)
    publish(books, [
        (event, "dup-1"), (event, "dup-1"),  # JetStream drops the second
        (event, "dup-1:retry"),  # a retry that outlived the duplicate window: the ledger drops it
        (failure, "dup-2:gateway"),  # the worker vanished ... then its real count arrives
        (real, "dup-2"),
        (failure, "dup-2:gateway-late"),  # a late failure record never replaces the real count
    ])
    report = books.wait_for_requests("bill-dup", 2)
    assert by_model(report) == {
        "gpt-cheap": (1, 100, 0, 50, Decimal(usd(cost_micro("gpt-cheap", 100, 0, 50)))),
        "gpt-test": (1, 11, 3, 7, Decimal(usd(cost_micro("gpt-test", 11, 3, 7)))),
    }
    wait_until(books.caught_up, 10, "ledger caught up")
    rows = books.rows("bill-dup")
    assert [(r["request_id"], r["source"], r["status"]) for r in rows] == [
        ("dup-1", "worker", "ok"), ("dup-2", "worker", "cancelled")]


def balance_record(books: Books, key_id: str) -> BalanceRecord | None:
    async def read(nc: Client) -> BalanceRecord | None:
        kv = await nc.jetstream().key_value(BALANCES_BUCKET)
        try:
            entry = await kv.get(key_id)
        except nats.js.errors.KeyNotFoundError:
            return None
        return BALANCE_DECODER.decode(entry.value) if entry.value else None
    return books.stack.run(read)


def test_a_credit_shows_in_the_report_and_in_the_balances_bucket(books: Books) -> None:
    record, client = new_key(books, "bill-credit")
    used = [chat(client, "gpt-test", "spend a little"), chat(client, "gpt-test", "and a bit more")]
    spent = sum(cost_micro("gpt-test", *u) for u in used)
    books.wait_for_requests("bill-credit", 2)
    # `scripts/keys credit`'s own code (the wrapper itself would read "credit" as pip extras: see the report)
    out = subprocess.run([sys.executable, "-m", "gateway.ops.keys_cli", "credit", "bill-credit", "0.5"], cwd=ROOT,
                         env=books.env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr

    def credited() -> bool:
        return bool(books.report("--key", "bill-credit")["balances"]["bill-credit"]["credit_usd"] == "0.500000")

    wait_until(credited, 15, "the credit in the report", books.ledger())
    balances = books.report("--key", "bill-credit")["balances"]
    assert balances == {"bill-credit": {"credit_usd": "0.500000", "spent_usd": usd(spent),
                                        "balance_usd": usd(500_000 - spent)}}
    wait_until(lambda: (balance_record(books, record.id) or BalanceRecord(key_id="")).credit_micro_usd == 500_000,
               10, "the balance record in the bucket")
    published = balance_record(books, record.id)
    assert published is not None
    assert (published.key_name, published.spent_micro_usd, published.balance_micro_usd) == (
        "bill-credit", spent, 500_000 - spent)


def metered_key(books: Books, name: str, credit_micro: int) -> tuple[KeyRecord, openai.OpenAI]:
    """A key created with credit, once the gateway can know its balance."""
    record, secret = books.stack.run(lambda nc: create_key(nc, name, ["*"], None, None, credit_micro))
    client = openai.OpenAI(base_url=books.stack.base_url, api_key=secret, max_retries=0, timeout=20)
    books.clients.append(client)
    wait_until(lambda: balance_record(books, record.id) is not None, 10, "the credit's balance record")
    # the gateway knows the credit (before it does, it lets a new key's requests through)
    wait_until(books.gateways_followed_the_last_credit, 10, "the credit on the gateway's follower")
    return record, client


def test_a_spent_balance_is_refused_with_insufficient_quota(books: Books) -> None:
    record, client = metered_key(books, "bill-metered", 10_000)  # $0.01
    successes = 0
    deadline = time.monotonic() + 20
    while True:
        try:
            chat(client, "gpt-pricey", "spend")  # 11 x 100 + 2 x 1000 = 3100 micro-USD each
            successes += 1
            books.wait_for_requests("bill-metered", successes)
            # the gateway gives a hold back once it has counted the request's usage event
            wait_until(lambda: books.held(record.id) == 0, 10, "the hold given back", books.ledger())
        except openai.RateLimitError as ex:
            assert ex.code == "insufficient_quota"
            assert ex.response.headers["x-should-retry"] == "false"
            break
        assert time.monotonic() < deadline
    # 10000 / 3100: the 4th request makes the spend pass the credit; the 5th is refused
    assert successes == 4
    balance = books.report("--key", "bill-metered")["balances"]["bill-metered"]
    assert balance == {"credit_usd": "0.010000", "spent_usd": "0.012400", "balance_usd": "-0.002400"}


def test_a_small_credit_runs_out_on_the_offline_echo_models(books: Books) -> None:
    credit = 30  # micro-USD
    record, client = metered_key(books, "bill-echo", credit)
    spent = client.embeddings.create(model="echo-embed", input="spend money").usage.prompt_tokens  # 1 micro-USD a token
    books.wait_for_requests("bill-echo", 1)
    [row] = books.rows("bill-echo")
    assert (row["model"], row["prompt_tokens"], row["completion_tokens"]) == ("echo-embed", spent, 0)
    assert row["cost_micro_usd"] == spent >= 1
    requests, last = 1, 0
    deadline = time.monotonic() + 30
    while True:
        def balance_seen(expected: int = credit - spent) -> bool:
            found = balance_record(books, record.id)
            return found is not None and found.balance_micro_usd == expected
        wait_until(balance_seen, 10, "the new balance in the balances bucket", books.ledger())
        try:
            usage = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "spend"}]).usage
        except openai.RateLimitError as ex:
            assert ex.code == "insufficient_quota" and ex.response.headers["x-should-retry"] == "false"
            break
        assert usage is not None
        last = cost_micro("echo", usage.prompt_tokens, 0, usage.completion_tokens)
        assert last > 0
        spent, requests = spent + last, requests + 1
        books.wait_for_requests("bill-echo", requests)
        assert time.monotonic() < deadline, "the credit never ran out"
    # refused exactly once the spend reached the credit: the last request was admitted before
    assert spent >= credit > spent - last and requests > 2
    balance = books.report("--key", "bill-echo")["balances"]["bill-echo"]
    assert balance == {"credit_usd": usd(credit), "spent_usd": usd(spent), "balance_usd": usd(credit - spent)}


def test_a_burst_at_the_balance_edge_overspends_at_most_its_reservations(books: Books) -> None:
    _, client = metered_key(books, "bill-race", 10_000)  # $0.01

    def one(_: int) -> str:
        try:
            # slow upstream: the whole burst is in flight before the first one ends
            client.chat.completions.create(model="gpt-pricey", max_tokens=5,
                                           messages=[{"role": "user", "content": "#scenario slow 0.5"}])
            return "ok"
        except openai.RateLimitError as ex:
            return str(ex.code)

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(one, range(10)))
    admitted = outcomes.count("ok")
    # each admission reserves its prompt estimate plus max_tokens of output (7000+ micro-USD):
    # with $0.01 at most two requests can be in flight at once; all others were refused up front
    assert 1 <= admitted <= 2
    assert outcomes.count("insufficient_quota") == 10 - admitted
    books.wait_for_requests("bill-race", admitted)
    spent = Decimal(books.report("--key", "bill-race")["balances"]["bill-race"]["spent_usd"])
    assert spent <= Decimal("0.01") + admitted * Decimal("0.0071")


def test_a_worker_killed_mid_stream_is_noticed_within_heartbeats_and_billed_an_estimate(books: Books) -> None:
    # issue 14 item 4: the client used to wait out the idle timeout and the row billed 0 tokens
    _, client = new_key(books, "bill-worker-dies")
    worker = next(p for p in books.stack.procs if p.name == "worker")
    stream = client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "#scenario slow_stream"}], stream=True)
    request_id = stream.headers["x-request-id"]
    received = []
    killed = 0.0
    try:
        with pytest.raises(openai.APIError) as ex:
            for chunk in stream.parse():
                received.append(chunk)
                if len(received) == 3:
                    worker.signal(signal.SIGKILL)  # no usage event will ever come from it
                    killed = time.monotonic()
        noticed = time.monotonic() - killed
        assert noticed < 3 * 0.5 + 1.0, f"{noticed:.1f}s: about two heartbeats (0.5 s) expected"
        assert ex.value.body is not None and ex.value.body.get("code") == "worker_lost"
        assert len(received) >= 3

        def recorded() -> bool:
            return any(r["request_id"] == request_id for r in books.rows("bill-worker-dies"))

        wait_until(recorded, 15, "the failure record in the ledger", books.ledger())
        [row] = books.rows("bill-worker-dies")
        assert (row["status"], row["source"], row["error_code"]) == ("error", "gateway", "worker_lost")
        assert row["estimated"] == 1 and row["completion_tokens"] > 0 and row["prompt_tokens"] > 0
        # an estimate, billed at the model's prices like any other row
        assert row["cost_micro_usd"] == cost_micro("gpt-test", row["prompt_tokens"], 0, row["completion_tokens"])
        assert row["total_tokens"] == row["prompt_tokens"] + row["completion_tokens"]
    finally:
        worker.popen.wait(10)
        books.stack.procs.remove(worker)
        start_worker(books.stack, books.config)


def test_rebuild_from_the_stream_reaches_the_same_totals(books: Books) -> None:
    wait_until(books.caught_up, 15, "ledger caught up")
    before = books.report()
    assert len(before["balances"]) >= 4 and before["rows"]
    rebuild = [sys.executable, "-m", "ledger", "--rebuild"]
    refused = subprocess.run(rebuild, cwd=ROOT, env=books.env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "stop it" in refused.stderr  # the ledger runs: no rebuild under it

    books.ledger().stop()
    done = subprocess.run(rebuild, cwd=ROOT, env=books.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert books.report() == before
    assert books.database.with_name("ledger.sqlite3.before-rebuild").exists()

    # The restarted ledger resumes its durable consumer on the rebuilt file: nothing twice.
    books.stack.start_ledger(books.config)
    _, client = new_key(books, "bill-after")
    chat(client, "echo", "after the rebuild")
    books.wait_for_requests("bill-after", 1)
    wait_until(books.caught_up, 10, "ledger caught up")
    after = books.report()
    assert [r for r in after["rows"] if r["key"] != "bill-after"] == before["rows"]


def test_a_request_of_several_megabytes_travels_the_bus_both_ways(books: Books) -> None:
    # PITFALLS 21: a 3 MB body (think base64 images) goes to the worker in one message and
    # the echo comes back larger than NATS's 1 MB default; the embedded server allows 64 MiB.
    _, client = new_key(books, "bill-large")
    text = "word " * 600_000
    reply = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": text}])
    assert reply.choices[0].message.content == text
    assert reply.usage is not None and reply.usage.completion_tokens == 600_000


def test_issue_11_a_claude_stream_cut_after_many_characters_bills_an_estimate_of_them(books: Books) -> None:
    # message_start says output_tokens 1 (a placeholder); the real count never comes.
    _, client = new_key(books, "bill-claude-cut")
    text = " ".join(f"word{i}" for i in range(2000))
    stream = client.chat.completions.with_raw_response.create(
        model="claude-test", messages=[{"role": "user", "content": f"{text}\n#scenario drop_midstream"}], stream=True)
    request_id = stream.headers["x-request-id"]
    received = []
    with pytest.raises(openai.APIError) as ex:
        for chunk in stream.parse():
            received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "ended early" in ex.value.message
    assert "".join(received) == text

    def recorded() -> bool:
        return any(r["request_id"] == request_id for r in books.rows("bill-claude-cut"))

    wait_until(recorded, 15, "the cut stream's record in the ledger", books.ledger())
    [row] = books.rows("bill-claude-cut")
    completion = (len(text) + 3) // 4  # the gateway's estimate: about 4 characters a token
    assert completion > 3000
    assert (row["status"], row["estimated"], row["completion_tokens"]) == ("error", 1, completion)
    assert row["prompt_tokens"] > 0 and row["total_tokens"] == row["prompt_tokens"] + completion
    assert row["cost_micro_usd"] == cost_micro("claude-test", row["prompt_tokens"], 0, completion)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("variant", ["", " inner"])
def test_issue_11_nulls_in_the_upstream_usage_are_billed_not_a_502(books: Books, stream: bool, variant: str) -> None:
    name = f"bill-null-usage-{int(stream)}{variant.strip()}"
    _, client = new_key(books, name)
    text = f"#scenario null_usage{variant}"
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": text}]
    words = len(f"fake: {text}".split(" "))
    if stream:
        chunks = list(client.chat.completions.create(model="gpt-test", messages=messages, stream=True,
                                                     stream_options={"include_usage": True}))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == f"fake: {text}"
        usage = chunks[-1].usage
    else:
        reply = client.chat.completions.create(model="gpt-test", messages=messages)
        assert reply.choices[0].message.content == f"fake: {text}"
        usage = reply.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (PROMPT_TOKENS, words)
    books.wait_for_requests(name, 1)
    [row] = books.rows(name)
    assert (row["status"], row["estimated"]) == ("ok", 0)
    assert (row["prompt_tokens"], row["cached_tokens"], row["completion_tokens"]) == (PROMPT_TOKENS, 0, words)
    assert row["cost_micro_usd"] == cost_micro("gpt-test", PROMPT_TOKENS, 0, words)


def test_messages_requests_are_in_the_report_once_each_like_chat(books: Books) -> None:
    import anthropic

    record, secret = books.stack.run(lambda nc: create_key(nc, "bill-messages", ["*"], None, None, None))
    client = anthropic.Anthropic(base_url=books.stack.base_url.removesuffix("/v1"), api_key=secret,
                                 max_retries=0, timeout=20)
    told: dict[str, list[tuple[int, int]]] = {"claude-test": [], "gpt-test": []}
    for model in told:
        client.messages.count_tokens(model=model, messages=[{"role": "user", "content": "free"}])
        kwargs: Any = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": f"bill {model}"}]}
        whole = client.messages.create(**kwargs)
        with client.messages.stream(**kwargs) as stream:
            streamed = stream.get_final_message()
        for message in (whole, streamed):
            u = message.usage
            told[model].append((u.input_tokens + (u.cache_read_input_tokens or 0), u.output_tokens))
    report = books.wait_for_requests("bill-messages", 4)
    totals = by_model(report)
    for model, usages in told.items():
        requests, prompt, _, completion, cost = totals[model]
        assert (requests, prompt, completion) == (2, sum(p for p, _ in usages), sum(c for _, c in usages))
        billed = [r for r in books.rows("bill-messages") if r["model"] == model]
        expected = [cost_micro(model, r["prompt_tokens"], r["cached_tokens"], r["completion_tokens"]) for r in billed]
        assert [r["cost_micro_usd"] for r in billed] == expected  # each row at the model's prices
        assert cost == Decimal(usd(sum(expected))) and sum(expected) > 0
    rows = books.rows("bill-messages")
    assert len(rows) == 4 and len({r["request_id"] for r in rows}) == 4
    assert record.name == "bill-messages"
