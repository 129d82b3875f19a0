"""`scripts/run`: start the whole stack and print a key that works at once.

Starts the Procfile's processes (the embedded `nats` unless `NATS_URL` is set, the
gateway, `WORKER_PROCESSES` workers, the ledger), waits until the stack serves (NATS up,
every provider answered by a worker, the gateway healthy and accepting the new key),
then prints the base URL and the demo key (kept in the data dir, the same on every start). A process that dies before that stops the
stack at once, with its name and last lines; after it, a process that dies is restarted
with backoff. Ctrl-C or SIGTERM stops every process in any state.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError, NotFoundError

from gateway.runtime import natsbus
from gateway.contracts import config as configuration
from gateway.contracts.bus import KEY_DECODER, missing_secret, ping_subject
from gateway.contracts.environment import environment
from gateway.runtime.keys import all_keys, create_key, hash_secret, open_keys_bucket
from gateway.ops.supervisor import Restarts, Stack, StopRequest, read_procfile, wait_for

# NOTE: not "demo": the README's own `scripts/keys create demo --credit 0.0001` must work.
DEMO_KEY_NAME = "scripts-run-demo"
DEMO_KEY_FILE = "demo-key"
READY_TIMEOUT_S = 120.0
# The default shutdown graces ([gateway] 25 s, [workers] 30 s) fit, with time to publish usage.
STOP_GRACE_S = 35.0
STARTUP_STOP_GRACE_S = 5.0


def base_url() -> str:
    """The gateway's public base URL."""
    env = environment()
    host = env.gateway_host
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{shown}:{env.gateway_port}/v1"


def processes() -> list[str]:
    """Procfile entries to start."""
    names = ["gateway", "worker", "ledger"]
    return names if environment().nats_url else ["nats", *names]


async def _connect(deadline: float) -> Client:
    while True:
        try:
            return await natsbus.connect_once("operator", timeout_s=1)
        except (OSError, nats.errors.Error, asyncio.TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _workers_ready(nc: Client, providers: list[str], deadline: float) -> dict[str, str]:
    """Once every provider answers: provider -> the variable its worker lacks for its secret."""
    lacking: dict[str, str] = {}
    for provider in providers:
        while True:
            try:
                answer = await nc.request(ping_subject(provider), b"", timeout=0.5)
                if (variable := missing_secret(answer.data)) is not None:
                    lacking[provider] = variable
                break
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no worker answered for provider '{provider}'") from None
                await asyncio.sleep(0.2)
    return lacking


def demo_key_path() -> Path:
    """Where the demo key's secret is kept (mode 0600), so a restart prints the same key."""
    return environment().data_dir / DEMO_KEY_FILE


async def _stored_demo_key(nc: Client) -> str | None:
    """The stored demo secret, if its record still exists and is enabled."""
    path = demo_key_path()
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        return None
    kv = await open_keys_bucket(nc)
    try:
        entry = await kv.get(hash_secret(secret))
    except (KeyNotFoundError, NotFoundError):
        return None
    if not entry.value or KEY_DECODER.decode(entry.value).disabled:
        return None
    return secret


def _store_demo_key(secret: str) -> None:
    path = demo_key_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{DEMO_KEY_FILE}.tmp")
    staged.unlink(missing_ok=True)
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    os.replace(staged, path)


async def _demo_key(nc: Client) -> str:
    """The data dir's demo key; a new one (earlier demo records removed) when it was never
    made, or its record was deleted or disabled."""
    secret = await _stored_demo_key(nc)
    if secret is not None:
        return secret
    kv = await open_keys_bucket(nc)
    for record in await all_keys(nc):
        if record.name == DEMO_KEY_NAME:
            await kv.delete(record.hash)
    _, secret = await create_key(nc, DEMO_KEY_NAME, ["*"], None, None, None)
    _store_demo_key(secret)
    return secret


def _gateway_accepts(url: str, secret: str, deadline: float) -> None:
    request = urllib.request.Request(f"{url}/models", headers={"authorization": f"Bearer {secret}"})
    while True:
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gateway at {url} did not become ready")
        time.sleep(0.2)


async def prepare(config: configuration.Config) -> tuple[str, dict[str, str]]:
    """Wait for NATS and the workers; return the demo key and the providers lacking their secret."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    nc = await _connect(deadline)
    try:
        secret = await _demo_key(nc)
        return secret, await _workers_ready(nc, sorted(config.providers), deadline)
    finally:
        await nc.close()


class Readiness:
    """Waits for the stack in a thread of its own, so the launcher keeps watching processes."""

    def __init__(self, config: configuration.Config) -> None:
        self._config = config
        self.done = threading.Event()
        self.secret: str | None = None
        self.lacking: dict[str, str] = {}
        self.error: str | None = None

    def start(self) -> None:
        """Begin waiting."""
        threading.Thread(target=self._run, name="readiness", daemon=True).start()

    def _run(self) -> None:
        try:
            secret, self.lacking = asyncio.run(prepare(self._config))
            _gateway_accepts(base_url(), secret, time.monotonic() + READY_TIMEOUT_S)
            self.secret = secret
        except (TimeoutError, OSError, nats.errors.Error) as ex:
            self.error = str(ex) or type(ex).__name__
        finally:
            self.done.set()


def banner(url: str, secret: str, config: configuration.Config, lacking: dict[str, str] | None = None) -> str:
    """What a new user sees once the stack serves."""
    lacking = lacking or {}
    missing = "".join(
        f"  unavailable: provider '{p}' lacks {v} (its models "
        f"{', '.join(m.id for m in config.models if m.provider == p)} answer 404 model_unavailable)\n"
        for p, v in sorted(lacking.items()))
    return (
        "\n"
        "  LLM gateway ready\n"
        f"  base URL : {url}\n"
        f"  demo key : {secret}\n"
        f"  models   : {', '.join(m.id for m in config.models if m.provider not in lacking)}\n"
        f"{missing}"
        f"  try      : curl {url}/chat/completions -H 'Authorization: Bearer {secret}' "
        "-H 'content-type: application/json' "
        "-d '{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}'\n"
        "  Ctrl-C stops everything.\n"
    )


def start_processes(stack: Stack, procfile: Path) -> None:
    """Start what `processes()` names, `WORKER_PROCESSES` copies of the worker."""
    entries = read_procfile(procfile)
    workers = environment().worker_processes
    for name in processes():
        copies = workers if name == "worker" else 1
        for number in range(1, copies + 1):
            stack.start(f"{name}.{number}" if copies > 1 else name, entries[name])


def main() -> int:
    """Run the stack in the foreground; the exit status says how it ended."""
    config = configuration.load()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    stop = StopRequest()
    stop.install()
    stack = Stack(env, Path.cwd())
    serving = False
    if "nats" in processes():
        # NOTE: before any process starts: each reads its role's credentials once, at connect
        natsbus.ensure_credentials(natsbus.credentials_dir())
    try:
        start_processes(stack, environment().procfile)
        readiness = Readiness(config)
        readiness.start()
        dead = wait_for(readiness.done.is_set, stop, stack)
        if stop.event.is_set():
            stack.say("stopping")
            return 0
        if dead is not None:
            stop.stopping()
            stack.report_death(dead)
            stack.say("the stack did not start; stopping the other processes")
            return 1
        if readiness.error is not None:
            stack.say(f"\nstack did not become ready: {readiness.error}")
            return 1
        assert readiness.secret is not None
        stack.say(banner(base_url(), readiness.secret, config, readiness.lacking))
        serving = True
        # NOTE: from here on a process that dies is restarted (with backoff) and the stack
        # stops only when asked.
        restarts = Restarts(stack)
        while not stop.event.wait(0.1):
            restarts.tick()
        stack.say("stopping")
        return 0
    finally:
        # NOTE: Ctrl-C is passed on as SIGINT (quick), anything else as SIGTERM (graceful);
        # before the banner nothing is being served, so the grace is short (gunicorn would
        # otherwise wait for a worker still booting). A signal that arrives while stopping
        # ends the grace at once.
        stop.stopping()
        sig = signal.SIGINT if stop.signal == signal.SIGINT else signal.SIGTERM
        grace = STOP_GRACE_S if serving else STARTUP_STOP_GRACE_S
        stack.stop(grace, sig=sig, last=["nats"], hurry=stop.hurry)


if __name__ == "__main__":
    sys.exit(main())
