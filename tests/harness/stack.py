"""The real stack for integration tests: nats-server, gateway(s), worker(s), ledger.

Every process gets a free port, its own log file and a readiness wait that raises with
the process's log; `close()` stops all of them, whatever happened.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import nats
import nats.js.errors
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy

from gateway.contracts.bus import CREDIT_SUBJECT, HOLDS_STREAM, USAGE_DECODER, USAGE_STREAM, USAGE_SUBJECTS, UsageEvent, ping_subject
from gateway.runtime.keys import create_key
from gateway.runtime.natsbus import connect_options, servers
from gateway.ops.natsd import cluster_config, server_args
from tests.harness.procs import Proc, free_port, port_open, wait_until

T = TypeVar("T")


class Stack:
    """Start parts on demand; `close()` stops everything started."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[Proc] = []
        self.nats_port = free_port()
        self.nats_url = f"nats://127.0.0.1:{self.nats_port}"
        self.gateway_port = 0

    @property
    def credentials(self) -> Path:
        """The roles' NATS credentials (made by the server's start, found by every process)."""
        return self.workdir / "data" / "nats-auth"

    def nats_options(self, role: str) -> dict[str, Any]:
        """nats.connect() arguments of a role."""
        return connect_options(role, self.credentials)

    @property
    def base_url(self) -> str:
        """The gateway's OpenAI base URL."""
        return f"http://127.0.0.1:{self.gateway_port}/v1"

    def _env(self, config: Path, **extra: str) -> dict[str, str]:
        return {"GATEWAY_CONFIG": str(config), "NATS_URL": self.nats_url,
                "GATEWAY_DATA_DIR": str(self.workdir / "data"), **extra}

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> Proc:
        proc = Proc(name, args, env, self.workdir)
        self.procs.append(proc)
        return proc

    def write_config(self, name: str, text: str) -> Path:
        """A config file in the work dir."""
        path = self.workdir / name
        path.write_text(text)
        return path

    def start_nats(self) -> Proc:
        """nats-server with JetStream on a free port."""
        store = self.workdir / "nats-store"
        store.mkdir(exist_ok=True)
        proc = self._start("nats", server_args(str(self.nats_port), store, self.credentials), {})
        wait_until(lambda: port_open(self.nats_port), 15, "nats-server", proc)
        return proc

    def start_nats_cluster(self, nodes: int = 3) -> list[str]:
        """A cluster of `nodes` nats-servers with JetStream, one URL each; `nats_url` lists them all."""
        ports = [free_port() for _ in range(nodes)]
        routes = [free_port() for _ in range(nodes)]
        urls = []
        for i, (port, route) in enumerate(zip(ports, routes, strict=True)):
            store = self.workdir / f"nats-store-{i + 1}"
            store.mkdir(exist_ok=True)
            cluster = cluster_config(f"node-{i + 1}", route, [r for r in routes if r != route])
            self._start(f"nats-{i + 1}", server_args(str(port), store, self.credentials, cluster=cluster), {})
            urls.append(f"nats://127.0.0.1:{port}")
        for i, port in enumerate(ports):
            proc = next(p for p in self.procs if p.name == f"nats-{i + 1}")
            wait_until(lambda p=port: port_open(p), 15, f"nats-{i + 1}", proc)
        self.nats_port = ports[0]
        self.nats_url = ",".join(urls)
        return urls

    def start_worker(self, config: Path, name: str = "worker", providers: list[str] | None = None, **env: str) -> Proc:
        """A worker process; waits until it answers pings for `providers`."""
        proc = self._start(name, [sys.executable, "-m", "workers"], self._env(config, **env))
        for provider in providers or []:
            wait_until(lambda p=provider: self.run(lambda nc: _pinged(nc, p)), 30, f"{name} ({provider})", proc)
        return proc

    def start_gateway(self, config: Path, name: str = "gateway", processes: int = 1, primary: bool = True,
                      **env: str) -> Proc:
        """gunicorn with gevent workers; waits for /health. A primary gateway is the one
        `base_url` names; another one's port is `proc.port`."""
        port = free_port()
        if primary:
            self.gateway_port = port
        proc = self._start(
            name,
            [sys.executable, "-m", "gunicorn", "-c", "gateway/gunicorn_conf.py", "gateway.wsgi:application"],
            self._env(config, GATEWAY_PORT=str(port), GATEWAY_WORKERS=str(processes), **env),
        )
        proc.port = port
        wait_until(lambda: _healthy(port), 30, name, proc)
        return proc

    def stop(self, proc: Proc) -> None:
        """Stop one process before the others (a module's own gateway)."""
        proc.stop()
        self.procs.remove(proc)

    def start_ledger(self, config: Path, **env: str) -> Proc:
        """The ledger process."""
        proc = self._start("ledger", [sys.executable, "-m", "ledger"], self._env(config, **env))
        wait_until(lambda: "ledger_ready" in proc.log_text(), 30, "ledger", proc)
        return proc

    def run(self, work: Callable[[Client], Awaitable[T]]) -> T:
        """Run `work(nc)` with a fresh NATS connection."""
        async def main() -> T:
            nc = await nats.connect(servers(self.nats_url), connect_timeout=3, max_reconnect_attempts=1,
                                    **self.nats_options("operator"))
            try:
                return await work(nc)
            finally:
                await nc.close()
        return asyncio.run(main())

    def held(self, key_id: str) -> int:
        """What the key's requests in flight hold in the shared counter, every window summed."""
        async def total(nc: Client) -> int:
            js = nc.jetstream()
            try:
                info = await js.stream_info(HOLDS_STREAM, subjects_filter=f"holds.{key_id}.>")
            except nats.js.errors.NotFoundError:
                return 0
            values = [await js.get_last_msg(HOLDS_STREAM, subject, direct=True) for subject in info.state.subjects or {}]
            return sum(int(json.loads(msg.data or b"{}")["val"]) for msg in values)
        return self.run(total)

    def create_key(self, name: str, models: list[str] | None = None, **kw: Any) -> str:
        """A new key's secret (through the same code as `scripts/keys create`)."""
        _, secret = self.run(lambda nc: create_key(nc, name, models or ["*"], kw.get("rpm"), kw.get("tpm"), kw.get("credit")))
        return secret

    def usage_events(self) -> list[UsageEvent]:
        """Every UsageEvent in the USAGE stream so far."""
        return self.run(_read_usage)

    def usage_for(self, request_id: str, timeout: float = 10.0) -> UsageEvent:
        """The UsageEvent of one request, waiting for it to be published."""
        found: list[UsageEvent] = []

        def check() -> bool:
            found[:] = [e for e in self.usage_events() if e.request_id == request_id]
            return bool(found)

        wait_until(check, timeout, f"usage event of {request_id}")
        return found[0]

    def close(self) -> None:
        """Stop every process, newest first."""
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()


async def _pinged(nc: Client, provider: str) -> bool:
    try:
        await nc.request(ping_subject(provider), b"", timeout=0.5)
        return True
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        return False


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


async def _read_usage(nc: Client) -> list[UsageEvent]:
    js = nc.jetstream()
    try:
        info = await js.stream_info(USAGE_STREAM)
    except nats.js.errors.NotFoundError:
        return []
    total, last = info.state.messages, info.state.last_seq
    if not total:
        return []
    sub = await js.pull_subscribe(
        USAGE_SUBJECTS[0], stream=USAGE_STREAM, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    )
    events: list[UsageEvent] = []
    seen = 0
    try:
        # NOTE: done at the last message the stream held when asked (not after a fetch that
        # times out: that cost every read half a second)
        while seen < last:
            try:
                msgs = await sub.fetch(500, timeout=0.5)
            except asyncio.TimeoutError:  # nats-py raises its own subclass, or asyncio's
                break
            for msg in msgs:
                if msg.subject != CREDIT_SUBJECT:  # usage of unmetered and metered keys alike
                    events.append(USAGE_DECODER.decode(msg.data))
                seen = max(seen, msg.metadata.sequence.stream)
                await msg.ack()
    finally:
        await sub.unsubscribe()
    return events
