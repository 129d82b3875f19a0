"""The bus is not open: every role can do its job on a real nats-server, and nothing more."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyNotFoundError

from gateway.runtime import natsbus
from gateway.contracts.bus import (
    CREDIT_SUBJECT,
    HOLDS_STREAM,
    KEYS_BUCKET,
    RESPONSES_BUCKET,
    USAGE_METERED_SUBJECT,
    USAGE_STREAM,
    USAGE_SUBJECT,
    USAGE_SUBJECTS,
    hold_subject,
    status_subject,
)
from gateway.limits import INCR_HEADER
from tests.harness.stack import Stack


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("natsbus"))
    try:
        stack.start_nats()
        yield stack
    finally:
        stack.close()


class Session:
    """A connection as one role, with the server's refusals collected."""

    def __init__(self, nc: Client, errors: list[str]) -> None:
        self.nc = nc
        self.errors = errors

    async def refused(self, what: str) -> bool:
        """Whether the server reported a permissions violation naming `what`."""
        for _ in range(100):
            # NOTE: nats-py hands the server's -ERR over lower-cased
            if any("permissions violation" in e.lower() and what.lower() in e.lower() for e in self.errors):
                return True
            await asyncio.sleep(0.02)
        return False


@asynccontextmanager
async def session(bus: Stack, role: str) -> AsyncIterator[Session]:
    errors: list[str] = []

    async def on_error(ex: Exception) -> None:
        errors.append(str(ex))

    nc = await nats.connect(bus.nats_url, error_cb=on_error, max_reconnect_attempts=1, connect_timeout=3,
                            **bus.nats_options(role))
    try:
        yield Session(nc, errors)
    finally:
        await nc.close()


def run(work: Any) -> Any:
    return asyncio.run(work)


def test_credentials_are_private_files_one_per_role(bus: Stack) -> None:
    folder = bus.credentials
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    passwords = set()
    for role in natsbus.ROLES:
        path = folder / f"{role}.json"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        record = json.loads(path.read_text())
        assert record["user"] == role and len(record["password"]) >= 40
        passwords.add(record["password"])
    assert len(passwords) == len(natsbus.ROLES)
    config = bus.workdir / "nats-store.conf"
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600


def test_credentials_are_made_once_and_kept(tmp_path: Path) -> None:
    first = natsbus.ensure_credentials(tmp_path / "auth")
    assert natsbus.ensure_credentials(tmp_path / "auth") == first


def test_nobody_connects_without_credentials_or_with_wrong_ones(bus: Stack) -> None:
    async def attempt(**options: Any) -> str:
        try:
            nc = await nats.connect(bus.nats_url, max_reconnect_attempts=1, connect_timeout=2,
                                    allow_reconnect=False, error_cb=_ignore, **options)
        except (nats.errors.Error, OSError) as ex:
            return str(ex)
        await nc.close()
        return "connected"

    assert "authorization violation" in run(attempt()).lower()
    assert "authorization violation" in run(attempt(user="gateway", password="guess")).lower()
    assert "authorization violation" in run(attempt(user="operator", password="")).lower()


async def _ignore(_ex: Exception) -> None:
    pass


def test_the_job_path_works_for_gateway_and_worker_and_nobody_else_reads_it(bus: Stack) -> None:
    async def work() -> None:
        async with session(bus, "gateway") as gw, session(bus, "worker") as wk, session(bus, "ledger") as lg:
            jobs: asyncio.Queue[bytes] = asyncio.Queue()
            snooped: list[bytes] = []

            async def on_job(msg: Any) -> None:
                await jobs.put(msg.data)
                await wk.nc.publish(msg.reply, b"frame")

            await wk.nc.subscribe("llm.chat.p1", queue="workers.p1", cb=on_job)
            async def snoop(msg: Any) -> None:
                snooped.append(msg.data)

            await lg.nc.subscribe("llm.chat.>", cb=snoop)
            await gw.nc.subscribe("llm.chat.>", cb=snoop)
            await wk.nc.flush()
            await lg.nc.flush()
            await gw.nc.flush()
            replies: asyncio.Queue[bytes] = asyncio.Queue()

            async def on_reply(msg: Any) -> None:
                await replies.put(msg.data)

            await gw.nc.subscribe("_GW.test.*", cb=on_reply)
            await gw.nc.publish("llm.chat.p1", b"prompt", reply="_GW.test.1")
            assert await asyncio.wait_for(jobs.get(), 5) == b"prompt"
            assert await asyncio.wait_for(replies.get(), 5) == b"frame"
            assert await lg.refused('"llm.chat.>"')
            assert await gw.refused('"llm.chat.>"')
            assert snooped == []
            # a worker cannot read the gateway's replies, nor the ledger publish jobs
            await wk.nc.subscribe("_GW.>")
            assert await wk.refused('"_GW.>"')
            await lg.nc.publish("llm.chat.p1", b"forged")
            assert await lg.refused('"llm.chat.p1"')
            # the next job the worker gets is one the gateway sent after the refusal: the
            # forged one was dropped by the server, not merely late
            await gw.nc.publish("llm.chat.p1", b"after the forgery", reply="_GW.test.2")
            assert await asyncio.wait_for(jobs.get(), 5) == b"after the forgery"
            assert await asyncio.wait_for(replies.get(), 5) == b"frame"
            assert jobs.empty() and snooped == []

    run(work())


def test_workers_answer_pings_from_the_launcher(bus: Stack) -> None:
    async def work() -> None:
        async with session(bus, "worker") as wk, session(bus, "operator") as op:
            async def on_ping(msg: Any) -> None:
                await wk.nc.publish(msg.reply, b"pong")

            await wk.nc.subscribe("llm.ping.p1", queue="workers.p1", cb=on_ping)
            await wk.nc.flush()
            # NOTE: the server may take a moment to route the new interest to the other
            # connection (seen under load): "no responders" until then, never after
            for _ in range(50):
                try:
                    reply = await op.nc.request("llm.ping.p1", b"", timeout=3)
                    break
                except nats.errors.NoRespondersError:
                    await asyncio.sleep(0.05)
            assert reply.data == b"pong"

    run(work())


def test_each_role_answers_status_requests_on_its_own_subject_only(bus: Stack) -> None:
    async def work() -> None:
        async with session(bus, "gateway") as gw, session(bus, "worker") as wk, \
                session(bus, "ledger") as lg, session(bus, "operator") as op:
            for role, s in (("gateway", gw), ("worker", wk), ("ledger", lg)):
                async def answer(msg: Any, s: Session = s, role: str = role) -> None:
                    await s.nc.publish(msg.reply, role.encode())

                await s.nc.subscribe(status_subject(role), cb=answer)
                await s.nc.flush()
            for role in ("gateway", "worker", "ledger"):
                reply = await op.nc.request(status_subject(role), b"", timeout=3)
                assert reply.data == role.encode()
            # nobody listens in on another role's status requests, nor asks for them
            await wk.nc.subscribe(status_subject("ledger"))
            assert await wk.refused(f'"{status_subject("ledger")}"')
            await gw.nc.subscribe(status_subject("worker"))
            assert await gw.refused(f'"{status_subject("worker")}"')
            await lg.nc.publish(status_subject("gateway"), b"", reply="_INBOX_ledger.x")
            assert await lg.refused(f'"{status_subject("gateway")}"')

    run(work())


def test_only_the_operator_writes_keys_and_workers_cannot_read_them(bus: Stack) -> None:
    async def work() -> None:
        async with session(bus, "operator") as op, session(bus, "gateway") as gw, session(bus, "worker") as wk, \
                session(bus, "ledger") as lg:
            keys = await natsbus.keys_bucket(op.nc.jetstream())
            await keys.put("a" * 64, b'{"id": "key_a"}')
            gateway_view = await natsbus.keys_bucket(gw.nc.jetstream())
            assert (await gateway_view.get("a" * 64)).value == b'{"id": "key_a"}'
            for intruder in (gw, wk, lg):
                with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
                    await intruder.nc.jetstream().publish(f"$KV.{KEYS_BUCKET}.{'b' * 64}", b'{"id": "mine"}', timeout=1)
                assert await intruder.refused(f'"$KV.{KEYS_BUCKET}.')
            with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
                await (await wk.nc.jetstream().key_value(KEYS_BUCKET)).get("a" * 64)
            assert await wk.refused(f"KV_{KEYS_BUCKET}")
            with pytest.raises(Exception):
                await keys.get("b" * 64)  # nothing of the intruders landed

    run(work())


def test_only_the_operator_publishes_credits_and_only_the_ledger_consumes_usage(bus: Stack) -> None:
    async def work() -> None:
        async with session(bus, "operator") as op, session(bus, "gateway") as gw, session(bus, "worker") as wk, \
                session(bus, "ledger") as lg:
            await natsbus.ensure_usage_stream(op.nc.jetstream())
            before = (await op.nc.jetstream().stream_info(USAGE_STREAM)).state.messages
            await wk.nc.jetstream().publish(USAGE_SUBJECT, b'{"usage": 1}', timeout=3)
            await gw.nc.jetstream().publish(USAGE_SUBJECT, b'{"usage": 2}', timeout=3)
            await op.nc.jetstream().publish(CREDIT_SUBJECT, b'{"credit": 1}', timeout=3)
            for forger in (gw, wk, lg):
                with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
                    await forger.nc.jetstream().publish(CREDIT_SUBJECT, b'{"credit": 1000}', timeout=1)
                assert await forger.refused(f'"{CREDIT_SUBJECT}"')
            assert (await op.nc.jetstream().stream_info(USAGE_STREAM)).state.messages == before + 3

            sub = await lg.nc.jetstream().pull_subscribe(
                USAGE_SUBJECT, durable="ledger-test", stream=USAGE_STREAM,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
            assert len(await sub.fetch(2, timeout=3)) == 2
            for reader in (gw, wk):
                with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
                    await reader.nc.jetstream().pull_subscribe(USAGE_SUBJECT, durable="spy", stream=USAGE_STREAM)
                assert await reader.refused("$JS.API.CONSUMER.")

    run(work())


def test_the_ledger_writes_balances_and_nobody_else_does(bus: Stack) -> None:
    async def work() -> None:
        async with session(bus, "ledger") as lg, session(bus, "gateway") as gw, session(bus, "worker") as wk:
            balances = await natsbus.balances_bucket(lg.nc.jetstream())
            await balances.put("key_x", b'{"balance": 5}')
            seen = await natsbus.balances_bucket(gw.nc.jetstream())
            assert (await seen.get("key_x")).value == b'{"balance": 5}'
            for forger in (gw, wk):
                with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
                    await forger.nc.jetstream().publish("$KV.balances.key_x", b'{"balance": 1000000}', timeout=1)
                assert await forger.refused('"$KV.balances.key_x"')
            assert (await seen.get("key_x")).value == b'{"balance": 5}'

    run(work())


def test_stored_responses_are_written_by_workers_read_and_deleted_by_gateways_unseen_by_the_ledger(bus: Stack) -> None:
    async def work() -> None:
        async with session(bus, "worker") as wk, session(bus, "gateway") as gw, session(bus, "ledger") as lg:
            stored = await natsbus.responses_bucket(wk.nc.jetstream(), 60.0)
            await stored.put("key_a.resp_1", b'{"key_id": "key_a"}')
            assert (await stored.get("key_a.resp_1")).value == b'{"key_id": "key_a"}'
            seen = await natsbus.responses_bucket(gw.nc.jetstream(), 60.0)
            assert (await seen.get("key_a.resp_1")).value == b'{"key_id": "key_a"}'
            await seen.delete("key_a.resp_1")
            with pytest.raises(KeyNotFoundError):
                await stored.get("key_a.resp_1")
            # by key only: no role but the operator can list or watch what is stored
            with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
                await seen.keys()
            assert await gw.refused(f"$JS.API.CONSUMER.CREATE.KV_{RESPONSES_BUCKET}")
            with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
                await lg.nc.jetstream().publish(f"$KV.{RESPONSES_BUCKET}.key_a.resp_2", b"{}", timeout=1)
            assert await lg.refused(f'"$KV.{RESPONSES_BUCKET}.key_a.resp_2"')
            with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
                await (await lg.nc.jetstream().key_value(RESPONSES_BUCKET)).get("key_a.resp_1")
            assert await lg.refused(f"KV_{RESPONSES_BUCKET}")
            config = (await wk.nc.jetstream().stream_info(f"KV_{RESPONSES_BUCKET}")).config
            assert config.max_age == 60.0
def test_gateways_share_cooldowns_and_workers_cannot_touch_them(bus: Stack) -> None:
    async def work() -> None:
        async with session(bus, "gateway") as gw1, session(bus, "gateway") as gw2, \
                session(bus, "worker") as wk, session(bus, "ledger") as lg:
            mine = await natsbus.cooldowns_bucket(gw1.nc.jetstream())
            await mine.put("ZGVwbG95", b'{"until": 5}')
            theirs = await natsbus.cooldowns_bucket(gw2.nc.jetstream())
            assert (await theirs.get("ZGVwbG95")).value == b'{"until": 5}'
            for outsider in (wk, lg):
                with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
                    await outsider.nc.jetstream().publish("$KV.cooldowns.ZGVwbG95", b'{"until": 0}', timeout=1)
                assert await outsider.refused('"$KV.cooldowns.ZGVwbG95"')
            assert (await theirs.get("ZGVwbG95")).value == b'{"until": 5}'

    run(work())


def test_workers_report_load_to_gateways_only(bus: Stack) -> None:
    async def work() -> None:
        async with session(bus, "gateway") as gw, session(bus, "worker") as wk, session(bus, "ledger") as lg:
            seen: asyncio.Queue[bytes] = asyncio.Queue()

            async def on_load(msg: Any) -> None:
                await seen.put(msg.data)

            await gw.nc.subscribe("llm.load.*", cb=on_load)
            await gw.nc.flush()
            await wk.nc.publish("llm.load.p1", b"load")
            assert await asyncio.wait_for(seen.get(), 5) == b"load"
            await gw.nc.publish("llm.load.p1", b"forged")
            assert await gw.refused('"llm.load.p1"')
            await lg.nc.subscribe("llm.load.*")
            assert await lg.refused('"llm.load.*"')

    run(work())


def test_each_role_has_its_own_inbox_prefix() -> None:
    prefixes = {natsbus.connect_options(role, Path("/nonexistent"))["inbox_prefix"] for role in natsbus.ROLES}
    assert len(prefixes) == len(natsbus.ROLES)


def test_credentials_from_the_environment_win(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NATS_WORKER_USER", "w1")
    monkeypatch.setenv("NATS_WORKER_PASSWORD", "pw")
    monkeypatch.setenv("NATS_LEDGER_CREDS", str(tmp_path / "ledger.creds"))
    assert natsbus.connect_options("worker", tmp_path)["user"] == "w1"
    assert natsbus.connect_options("ledger", tmp_path)["user_credentials"] == str(tmp_path / "ledger.creds")
    with pytest.raises(ValueError):
        natsbus.connect_options("intruder", tmp_path)


def test_nats_url_may_list_several_servers_and_replicas_come_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.runtime.natsbus import replicas, servers

    assert servers("nats://a:4222, nats://b:4222,,nats://c:4222") == ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
    assert servers("nats://127.0.0.1:4222") == ["nats://127.0.0.1:4222"]
    monkeypatch.delenv("NATS_REPLICAS", raising=False)
    assert replicas() == 1
    monkeypatch.setenv("NATS_REPLICAS", "3")
    assert replicas() == 3
    for wrong in ("0", "6", "three"):
        monkeypatch.setenv("NATS_REPLICAS", wrong)
        with pytest.raises(ValueError, match="NATS_REPLICAS"):
            replicas()


def test_gateways_follow_usage_and_share_holds_but_cannot_touch_the_ledgers_consumer(bus: Stack) -> None:
    async def work() -> None:
        async with session(bus, "gateway") as gw, session(bus, "worker") as wk, session(bus, "ledger") as lg, \
                session(bus, "operator") as op:
            await natsbus.ensure_usage_stream(op.nc.jetstream())
            await lg.nc.jetstream().pull_subscribe(USAGE_SUBJECT, durable="ledger-follow", stream=USAGE_STREAM)
            # the gateway reads the usage events (an ephemeral ordered consumer) ...
            seen: asyncio.Queue[bytes] = asyncio.Queue()

            async def on_event(msg: Any) -> None:
                await seen.put(msg.data)

            await gw.nc.jetstream().subscribe(USAGE_SUBJECTS[0], stream=USAGE_STREAM, cb=on_event,
                                              ordered_consumer=True,
                                              config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW))
            await wk.nc.jetstream().publish(USAGE_METERED_SUBJECT, b'{"usage": "followed"}', timeout=3)
            assert await asyncio.wait_for(seen.get(), 5) == b'{"usage": "followed"}'
            # ... but can neither delete nor take over the ledger's durable
            with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
                await gw.nc.jetstream().delete_consumer(USAGE_STREAM, "ledger-follow")
            assert await gw.refused("$JS.API.CONSUMER.DELETE.")
            with pytest.raises((nats.errors.Error, asyncio.TimeoutError)):
                await gw.nc.jetstream().add_consumer(USAGE_STREAM, ConsumerConfig(durable_name="ledger-follow"))
            assert (await op.nc.jetstream().consumer_info(USAGE_STREAM, "ledger-follow")).name == "ledger-follow"

            # holds: a shared counter the gateway adds to and reads; a worker cannot touch it
            await natsbus.ensure_holds_stream(gw.nc.jetstream(), 60)
            reply = await gw.nc.request(hold_subject("key_x", 7), b"", timeout=3, headers={INCR_HEADER: "+250"})
            assert json.loads(reply.data)["val"] == "250"
            last = await gw.nc.jetstream().get_last_msg(HOLDS_STREAM, hold_subject("key_x", 7), direct=True)
            assert json.loads(last.data or b"{}")["val"] == "250"
            await wk.nc.publish(hold_subject("key_x", 7), b"", headers={INCR_HEADER: "-250"})
            assert await wk.refused(f'"{hold_subject("key_x", 7)}"')
            last = await gw.nc.jetstream().get_last_msg(HOLDS_STREAM, hold_subject("key_x", 7), direct=True)
            assert json.loads(last.data or b"{}")["val"] == "250"

    run(work())
