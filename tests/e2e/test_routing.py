"""Several deployments per model, retries before the first byte, shared cooldowns (issue 16).

Three fake OpenAI accounts, each its own server and port, plus a closed port; one worker,
two gateway processes (two gateways on their own ports, so each request's process is
known), the ledger. Each model has its own upstream model id, so one test's cooldowns
never touch another's deployments.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from ledger.report import build_report, open_database
from tests.e2e.conftest import FAKE_KEY
from tests.fakes.openai import FakeOpenAI
from tests.harness.procs import Proc, free_port, wait_until
from tests.harness.stack import Stack

CONFIG = """
[gateway]
idle_timeout_s = 5

[workers]
heartbeat_s = 0.5

[routing]
retries = 2
retry_budget_s = 5
backoff_base_s = 0.05
cooldown_failures = 3
cooldown_s = 30
probe_interval_s = 0.2
load_report_s = 0.2

[providers.acct-a]
kind = "openai"
base_url = "{a}/v1"
api_key_env = "FAKE_OPENAI_KEY"
timeout_s = 5

[providers.acct-b]
kind = "openai"
base_url = "{b}/v1"
api_key_env = "FAKE_OPENAI_KEY"
timeout_s = 5

[providers.acct-c]
kind = "openai"
base_url = "{c}/v1"
api_key_env = "FAKE_OPENAI_KEY"
timeout_s = 5

[providers.dead]
kind = "openai"
base_url = "http://127.0.0.1:{dead}/v1"
api_key_env = "FAKE_OPENAI_KEY"
connect_timeout_s = 2

[[models]]
id = "split"
upstream = "gpt-split"
price = {{ input = 1.0, output = 2.0 }}
deployments = [{{ provider = "acct-a", weight = 3 }}, {{ provider = "acct-b", weight = 1 }}]

[[models]]
id = "pool"
upstream = "gpt-pool"
deployments = [{{ provider = "acct-a" }}, {{ provider = "acct-b" }}, {{ provider = "acct-c" }}]

[[models]]
id = "quick"
upstream = "gpt-quick"
routing = "latency"
deployments = [{{ provider = "acct-a" }}, {{ provider = "acct-c" }}]

[[models]]
id = "busy"
upstream = "gpt-busy"
routing = "least_busy"
deployments = [{{ provider = "acct-a" }}, {{ provider = "acct-b" }}]

[[models]]
id = "with-dead"
upstream = "gpt-dead"
deployments = [{{ provider = "dead" }}, {{ provider = "acct-c" }}]
"""
USER = [{"role": "user", "content": "hello"}]


@dataclass
class Routing:
    stack: Stack
    fakes: dict[str, FakeOpenAI]
    gateways: list[openai.OpenAI]
    gateway_procs: list[Proc]
    database: Path


@pytest.fixture(scope="module")
def routing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Routing]:
    fakes = {name: FakeOpenAI(FAKE_KEY) for name in ("a", "b", "c")}
    for fake in fakes.values():
        fake.start()
    stack = Stack(tmp_path_factory.mktemp("routing"))
    try:
        urls = {name: fake.url for name, fake in fakes.items()}
        config = stack.write_config("gateway.toml", CONFIG.format(**urls, dead=free_port()))
        stack.start_nats()
        stack.start_worker(config, providers=["acct-a", "acct-b", "acct-c", "dead"], FAKE_OPENAI_KEY=FAKE_KEY)
        stack.start_ledger(config)
        key = stack.create_key("routing")
        clients, procs = [], []
        for name in ("gateway-1", "gateway-2"):
            procs.append(stack.start_gateway(config, name=name))
            clients.append(openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0, timeout=20))
        yield Routing(stack, fakes, clients, procs, stack.workdir / "data" / "ledger.sqlite3")
    finally:
        stack.close()
        for fake in fakes.values():
            fake.stop()


def chat(client: openai.OpenAI, model: str, content: str = "hello") -> tuple[str, int, str]:
    """One request: (the deployment that answered, attempts, request id)."""
    raw = client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": content}])
    reply = raw.parse()
    assert reply.choices[0].message.content == f"fake: {content}"
    route = raw.headers["x-gateway-route"]
    assert route.startswith(f"{model}/")
    return route.removeprefix(f"{model}/"), int(raw.headers["x-gateway-attempts"]), raw.headers["x-request-id"]


def test_weights_are_respected_and_billed_per_deployment(routing: Routing) -> None:
    before = {n: f.chat_count() for n, f in routing.fakes.items()}
    routes: Counter[str] = Counter()
    ids = []
    for i in range(200):
        route, attempts, request_id = chat(routing.gateways[i % 2], "split")
        assert attempts == 1
        routes[route] += 1
        ids.append((request_id, route))
    assert set(routes) == {"acct-a", "acct-b"}
    assert 0.65 < routes["acct-a"] / 200 < 0.85  # weight 3 : 1, about 6 standard deviations wide
    # what the header says is what each upstream saw
    assert routing.fakes["a"].chat_count() - before["a"] == routes["acct-a"]
    assert routing.fakes["b"].chat_count() - before["b"] == routes["acct-b"]
    assert routing.fakes["c"].chat_count() == before["c"]
    # the usage event records the deployment; the report splits spend by it
    event = routing.stack.usage_for(ids[0][0])
    assert (event.deployment, event.provider, event.upstream_model) == (ids[0][1], ids[0][1], "gpt-split")
    found: list[dict[str, int]] = []

    def billed() -> bool:
        if not routing.database.exists():
            return False
        db = open_database(routing.database)
        try:
            rows = [r for r in build_report(db, by_deployment=True).rows if r.model == "split"]
        finally:
            db.close()
        found[:] = [{str(r.deployment): r.requests for r in rows}]
        return sum(r.requests for r in rows) == 200

    wait_until(billed, 20, "200 billed requests of model split")
    assert found[0] == {"acct-a": routes["acct-a"], "acct-b": routes["acct-b"]}


def test_a_failure_before_the_first_byte_is_retried_on_another_deployment(routing: Routing) -> None:
    for fake in (routing.fakes["a"], routing.fakes["b"]):
        fake.fail_next(500)
    raw = routing.gateways[0].chat.completions.with_raw_response.create(model="split", messages=USER, stream=True)
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "fake: hello"
    assert raw.headers["x-gateway-attempts"] == "3"  # both deployments failed, then a backoff


def test_no_retry_once_streaming_began(routing: Routing) -> None:
    before = routing.fakes["a"].chat_count() + routing.fakes["b"].chat_count()
    received = []
    with pytest.raises(openai.APIError):
        for chunk in routing.gateways[1].chat.completions.create(
            model="split", messages=[{"role": "user", "content": "#scenario midstream a b c d"}], stream=True
        ):
            received.append(chunk)
    assert received
    assert routing.fakes["a"].chat_count() + routing.fakes["b"].chat_count() == before + 1


def test_a_dead_deployment_costs_at_most_one_fast_retry(routing: Routing) -> None:
    def cooled() -> bool:
        return "deployment_cooldown" in "".join(p.log_text() for p in routing.gateway_procs)

    # Until a gateway cools the dead account (after a few failures, picked by weight), each
    # request that lands on it costs exactly one fast retry, never more.
    sent = 0
    while not cooled():
        assert sent < 64, "the dead deployment was never cooled down"
        started = time.monotonic()
        route, attempts, _ = chat(routing.gateways[sent % 2], "with-dead")
        assert route == "acct-c" and attempts <= 2
        assert time.monotonic() - started < 5.0  # a refused connect, not a timeout
        sent += 1
    # Cooled on NATS: no gateway process sends it traffic any more.
    wait_until(lambda: all(chat(g, "with-dead")[1] == 1 for g in routing.gateways), 10, "the cooldown on both gateways")
    for i in range(8):
        route, attempts, _ = chat(routing.gateways[i % 2], "with-dead")
        assert (route, attempts) == ("acct-c", 1)


def test_a_429_moves_traffic_off_the_account_on_every_gateway_and_back(routing: Routing) -> None:
    fake_b = routing.fakes["b"]
    fake_b.fail_next(429, {"retry-after": "6"})
    hit = fake_b.chat_count() + 1
    gw1, gw2 = routing.gateways
    for _ in range(100):  # until a request of gateway 1 meets the 429 (it is retried elsewhere)
        route, attempts, _ = chat(gw1, "pool")
        if fake_b.chat_count() >= hit:
            assert route != "acct-b" and attempts == 2
            break
    else:
        pytest.fail("no request reached account b")
    limited_at = time.monotonic()
    wait_until(lambda: "cooldown_seen" in routing.gateway_procs[1].log_text(), 5, "gateway 2 seeing the cooldown")
    seen_by_b = fake_b.chat_count()
    sent = Counter[int]()
    while time.monotonic() - limited_at < 4.5 and sum(sent.values()) < 60:
        for index, client in enumerate((gw1, gw2)):
            route, attempts, _ = chat(client, "pool")
            assert route != "acct-b" and attempts == 1
            sent[index] += 1
    assert sent[0] >= 5 and sent[1] >= 5
    assert fake_b.chat_count() == seen_by_b  # no gateway sent it anything while it cooled
    # back after it cooled: a probe first, then its share of the traffic
    routes: list[str] = []

    def back() -> bool:
        routes.append(chat((gw1, gw2)[len(routes) % 2], "pool")[0])
        return routes[-1] == "acct-b"

    wait_until(back, 30, "traffic back on account b")
    assert time.monotonic() - limited_at >= 5.9
    later = Counter(chat((gw1, gw2)[i % 2], "pool")[0] for i in range(60))
    assert later["acct-b"] >= 8


def test_latency_routing_follows_what_the_workers_measure(routing: Routing) -> None:
    routing.fakes["c"].delay_s = 0.3
    try:
        gw1, gw2 = routing.gateways
        routes: list[str] = []

        def settled() -> bool:
            routes.append(chat((gw1, gw2)[len(routes) % 2], "quick")[0])
            return routes[-6:] == ["acct-a"] * 6

        wait_until(settled, 30, "the slow account dropped by latency routing")
        assert "acct-c" in routes  # it was measured before it was dropped
        later = Counter(chat((gw1, gw2)[i % 2], "quick")[0] for i in range(20))
        assert later["acct-a"] >= 19
    finally:
        routing.fakes["c"].delay_s = 0.0


def test_least_busy_routing_avoids_the_account_with_jobs_piling_up(routing: Routing) -> None:
    routing.fakes["a"].delay_s = 0.5  # its jobs stay in flight; b answers at once
    try:
        with ThreadPoolExecutor(8) as pool:
            routes = Counter(route for route, _, _ in pool.map(
                lambda i: chat(routing.gateways[i % 2], "busy"), range(48)))
    finally:
        routing.fakes["a"].delay_s = 0.0
    assert routes["acct-b"] >= 36, routes  # weights alone would split them evenly
