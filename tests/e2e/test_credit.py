"""Credit that holds (gateway/budget.py): a metered key's spend passes its credit by at most
the cost of the requests in flight when its balance runs out, across several gateway
processes on two gateways, with the ledger running, paused (SIGSTOP) or killed.

Real processes: nats-server, a worker, the ledger and two gunicorn gateways of two
processes each, a fake OpenAI upstream that answers slowly, the openai SDK as client. The
books are read from the ledger's database file once the ledger has caught up.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import nats.js.errors
import openai
import pytest
from nats.aio.client import Client

from gateway.contracts.bus import HOLDS_STREAM, USAGE_STREAM
from gateway.runtime.keys import create_key
from tests.fakes.openai import PROMPT_TOKENS, FakeOpenAI
from tests.harness.procs import Proc, wait_until
from tests.harness.stack import Stack

FAKE_KEY = "sk-fake-upstream"
CONFIG = """
[gateway]
idle_timeout_s = 5
# short, so a dead gateway's holds expire within seconds: a hold window is
# request_timeout_s plus twice the release grace (here 2 s), and two windows are read
request_timeout_s = 2

[workers]
heartbeat_s = 0.5

[ledger]
ack_wait_s = 1
batch_size = 8

[providers.fakeoai]
kind = "openai"
base_url = "{fake}/v1"
api_key_env = "FAKE_OPENAI_KEY"
timeout_s = 5

[[models]]
id = "gpt-credit"
provider = "fakeoai"
price = {{ input = 100.0, output = 1000.0 }}
"""
PROMPT = "spend"  # the fake answers `fake: spend` at once: 2 words
COST = PROMPT_TOKENS * 100 + 2 * 1000  # micro-USD of each request (3,100)
CLIENTS = 20
CREDIT = 250 * COST  # about a dozen rounds of the burst


@dataclass
class Credit:
    stack: Stack
    config: str
    ports: list[int]
    clients: list[openai.OpenAI] = field(default_factory=list)
    fake: FakeOpenAI | None = None

    @property
    def database(self) -> str:
        return str(self.stack.workdir / "data" / "ledger.sqlite3")

    def ledger(self) -> Proc:
        return next(p for p in reversed(self.stack.procs) if p.name == "ledger")

    def key(self, name: str, credit: int | None = CREDIT) -> tuple[str, list[openai.OpenAI]]:
        """A new key's id and one client per gateway."""
        record, secret = self.stack.run(lambda nc: create_key(nc, name, ["*"], None, None, credit))
        made = [openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=secret, max_retries=0, timeout=20)
                for port in self.ports]
        self.clients.extend(made)
        # NOTE: every process knows the key before the burst (a key working at once is
        # another test's business): listing models authenticates and spends nothing
        for client in made:
            for _ in range(4):
                wait_until(partial(_lists_models, client), 10, "the new key on every gateway")
        return record.id, made

    def held(self, key_id: str) -> int:
        """What the key's requests in flight hold (tests/harness/stack.py)."""
        return self.stack.held(key_id)

    def caught_up(self) -> bool:
        async def info(nc: Client) -> bool:
            consumer = await nc.jetstream().consumer_info(USAGE_STREAM, "ledger")
            return bool(consumer.num_pending == 0 and consumer.num_ack_pending == 0)
        return self.stack.run(info)

    def billed(self, key_id: str) -> tuple[int, int]:
        """(rows, micro-USD) the ledger billed to the key, once it has caught up."""
        wait_until(self.caught_up, 30, "the ledger to catch up", self.ledger())
        with sqlite3.connect(self.database) as conn:
            rows, spent = conn.execute("SELECT COUNT(*), COALESCE(SUM(cost_micro_usd), 0) FROM usage"
                                       " WHERE key_id = ?", (key_id,)).fetchone()
        return int(rows), int(spent)


def _lists_models(client: openai.OpenAI) -> bool:
    try:
        return bool(client.models.list().data)
    except openai.AuthenticationError:
        return False


@pytest.fixture(scope="module")
def credit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Credit]:
    fake = FakeOpenAI(FAKE_KEY).start()
    stack = Stack(tmp_path_factory.mktemp("credit"))
    try:
        config = stack.write_config("gateway.toml", CONFIG.format(fake=fake.url))
        stack.start_nats()
        stack.start_worker(config, providers=["fakeoai"], FAKE_OPENAI_KEY=FAKE_KEY)
        stack.start_ledger(config)
        ports = []
        for name in ("gateway-a", "gateway-b"):
            stack.start_gateway(config, name=name, processes=2)
            ports.append(stack.gateway_port)
        books = Credit(stack, str(config), ports, fake=fake)
        yield books
        for client in books.clients:
            client.close()
    finally:
        stack.close()
        fake.stop()


@dataclass
class Burst:
    ok: int = 0
    refused: int = 0
    in_flight: int = 0
    in_flight_at_first_refusal: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def burst(clients: list[openai.OpenAI]) -> Burst:
    """CLIENTS callers over every gateway, each spending until it is refused."""
    seen = Burst()

    def caller(index: int) -> None:
        client = clients[index % len(clients)]
        for _ in range(200):
            with seen.lock:
                seen.in_flight += 1
            try:
                reply = client.chat.completions.create(model="gpt-credit", max_tokens=5,
                                                       messages=[{"role": "user", "content": PROMPT}])
                assert reply.choices[0].message.content == f"fake: {PROMPT}"
                with seen.lock:
                    seen.ok += 1
            except openai.RateLimitError as ex:
                assert ex.status_code == 429 and ex.code == "insufficient_quota"
                assert ex.response.headers["x-should-retry"] == "false"
                with seen.lock:
                    if seen.in_flight_at_first_refusal is None:
                        seen.in_flight_at_first_refusal = seen.in_flight - 1
                    seen.refused += 1
                return
            finally:
                with seen.lock:
                    seen.in_flight -= 1
        raise AssertionError("the credit never ran out")

    with ThreadPoolExecutor(CLIENTS) as pool:
        for done in [pool.submit(caller, i) for i in range(CLIENTS)]:
            done.result()
    return seen


def assert_refused_everywhere(credit: Credit, key_id: str, clients: list[openai.OpenAI], seen: Burst) -> None:
    """Once what the burst left is spent (holds are worst cases, so the last requests may
    have cost less than they held, and a hold lingers until its usage event is seen:
    each try waits for the key's holds to be given back), every gateway (and so every
    process, whichever takes the connection) says 429."""
    # NOTE: under load, holds linger longer and the burst's callers stop earlier: up to
    # the whole credit may be left to spend here, one request at a time
    for _ in range(CREDIT // COST + 1):
        wait_until(lambda: credit.held(key_id) == 0, 10, "the key's holds given back")
        try:
            clients[0].chat.completions.create(model="gpt-credit", max_tokens=5,
                                               messages=[{"role": "user", "content": PROMPT}])
            seen.ok += 1
        except openai.RateLimitError as refusal:
            assert refusal.code == "insufficient_quota"
            break
    else:
        raise AssertionError(f"the credit never ran out ({seen.ok} requests)")
    # NOTE: another process counts the last requests once their usage events reach it
    # (milliseconds; more under load): until then it may admit one more, billed and
    # within the bound checked afterwards; then it refuses for good
    for client in clients:
        for _try in range(5):
            try:
                client.chat.completions.create(model="gpt-credit", max_tokens=5,
                                               messages=[{"role": "user", "content": PROMPT}])
                seen.ok += 1
                continue
            except openai.RateLimitError as ex:
                assert ex.code == "insufficient_quota"
            for _ in range(2):
                with pytest.raises(openai.RateLimitError) as again:
                    client.chat.completions.create(model="gpt-credit", max_tokens=5,
                                                   messages=[{"role": "user", "content": "more"}])
                assert again.value.code == "insufficient_quota"
            break
        else:
            raise AssertionError("a gateway went on admitting a spent key")


def assert_bounded(spent: int, rows: int, seen: Burst) -> None:
    # every admitted request billed once, and refused ones never reached the upstream
    assert rows == seen.ok
    assert spent == seen.ok * COST
    # the bound: credit + what the requests in flight when the balance ran out (the
    # first refusal) cost. Counting only what the ledger published, the same burst
    # spends twice the credit with the ledger running and many times it while it is paused.
    assert seen.in_flight_at_first_refusal is not None and seen.in_flight_at_first_refusal < CLIENTS
    assert spent <= CREDIT + seen.in_flight_at_first_refusal * COST
    # and the credit was spent: a refusal leaves at most the holds then in flight unspent
    assert spent >= CREDIT - CLIENTS * 8_000


def test_a_burst_over_four_gateway_processes_stops_at_the_credit(credit: Credit) -> None:
    key_id, clients = credit.key("burst")
    seen = burst(clients)
    assert_refused_everywhere(credit, key_id, clients, seen)
    rows, spent = credit.billed(key_id)
    assert_bounded(spent, rows, seen)
    assert_refused_everywhere(credit, key_id, clients, seen)  # the ledger's own balance agrees


def test_the_credit_holds_while_the_ledger_is_paused(credit: Credit) -> None:
    ledger = credit.ledger()
    ledger.signal(signal.SIGSTOP)
    try:
        # created while the ledger cannot publish any balance: the credit itself is
        # followed on the stream
        key_id, clients = credit.key("paused")
        seen = burst(clients)
        assert_refused_everywhere(credit, key_id, clients, seen)
        assert not credit.caught_up()
    finally:
        ledger.signal(signal.SIGCONT)
    rows, spent = credit.billed(key_id)
    assert_bounded(spent, rows, seen)
    assert_refused_everywhere(credit, key_id, clients, seen)


def test_the_credit_holds_while_the_ledger_is_dead_and_after_it_is_back(credit: Credit) -> None:
    key_id, clients = credit.key("killed")
    wait_until(credit.caught_up, 30, "the credit applied", credit.ledger())
    ledger = credit.ledger()
    ledger.signal(signal.SIGKILL)
    ledger.popen.wait(10)
    credit.stack.procs.remove(ledger)
    try:
        seen = burst(clients)
        assert_refused_everywhere(credit, key_id, clients, seen)
    finally:
        credit.stack.start_ledger(credit.stack.workdir / "gateway.toml")
    rows, spent = credit.billed(key_id)
    assert_bounded(spent, rows, seen)
    assert_refused_everywhere(credit, key_id, clients, seen)


def test_unmetered_keys_take_no_holds(credit: Credit) -> None:
    key_id, clients = credit.key("free", credit=None)
    for client in clients:
        client.chat.completions.create(model="gpt-credit", messages=[{"role": "user", "content": "hi"}])

    async def held_subjects(nc: Client) -> int:
        info = await nc.jetstream().stream_info(HOLDS_STREAM, subjects_filter=f"holds.{key_id}.>")
        return len(info.state.subjects or {})

    assert credit.stack.run(held_subjects) == 0
    metered_id, metered = credit.key("metered-probe")
    metered[0].chat.completions.create(model="gpt-credit", max_tokens=5, messages=[{"role": "user", "content": "hi"}])

    async def metered_subjects(nc: Client) -> int:
        info = await nc.jetstream().stream_info(HOLDS_STREAM, subjects_filter=f"holds.{metered_id}.>")
        return len(info.state.subjects or {})

    assert credit.stack.run(metered_subjects) == 1  # the probe: the filter does find holds


def test_a_gateway_killed_mid_request_leaves_a_hold_that_expires(credit: Credit) -> None:
    slow = "#scenario slow 1"  # `fake: #scenario slow 1`: 4 words
    cost = PROMPT_TOKENS * 100 + 4 * 1000
    # enough for that request and a little more, not for it plus a hold of another
    key_id, [client_a, _] = credit.key("orphan", credit=cost + 1_000)
    doomed = credit.stack.start_gateway(credit.stack.workdir / "gateway.toml", name="gateway-doomed")
    doomed_client = openai.OpenAI(base_url=f"http://127.0.0.1:{credit.stack.gateway_port}/v1",
                                  api_key=client_a.api_key, max_retries=0, timeout=20)
    credit.clients.append(doomed_client)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            doomed_client.chat.completions.create(model="gpt-credit", max_tokens=5,
                                                  messages=[{"role": "user", "content": slow}])
        except openai.APIError as ex:
            outcome.append(ex)

    caller = threading.Thread(target=call)
    caller.start()

    wait_until(lambda: credit.held(key_id) > cost, 10, "the slow request's hold", doomed)
    # the hold is taken before the job leaves the gateway: kill it only once the upstream
    # has the request, so a worker really runs it (a job never sent is rightly never billed)
    fake = credit.fake
    assert fake is not None
    wait_until(lambda: any(slow.encode() in r.body for r in fake.requests_to("/chat/completions")), 10,
               "the slow request upstream", doomed)
    doomed.signal(signal.SIGKILL)  # mid-request: nobody will give its hold back
    doomed.popen.wait(10)
    credit.stack.procs.remove(doomed)
    caller.join(20)
    assert outcome and isinstance(outcome[0], openai.APIConnectionError)
    # the worker finished the request and billed it; its hold stays behind
    wait_until(lambda: credit.billed(key_id) == (1, cost), 20, "the orphan's usage billed", credit.ledger())
    with pytest.raises(openai.RateLimitError) as refused:
        client_a.chat.completions.create(model="gpt-credit", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert refused.value.code == "insufficient_quota"
    assert credit.held(key_id) > 0
    # two windows later the hold has expired: the 1,000 micro-USD left can be spent
    window_s = 2 + 2 * 2

    def admitted() -> bool:
        try:
            client_a.chat.completions.create(model="gpt-credit", max_tokens=5,
                                             messages=[{"role": "user", "content": PROMPT}])
            return True
        except openai.RateLimitError:
            return False

    orphaned = credit.held(key_id)
    wait_until(admitted, 2 * window_s + 5, "the orphaned hold to expire")
    # nobody gave it back (its window's counter still says so): it aged out of the two
    # windows admission reads
    assert orphaned > 0
    assert credit.billed(key_id)[1] == cost + COST
