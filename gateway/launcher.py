"""`scripts/run`: start the whole stack with honcho and print a key that works at once.

Starts the Procfile's processes (the embedded `nats` unless `NATS_URL` is set, the
gateway, `WORKER_PROCESSES` workers, the ledger), waits until the stack serves (NATS up,
every provider answered by a worker, the gateway healthy and accepting the new key),
then prints the base URL and a fresh demo key. Ctrl-C stops every process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nats
from nats.aio.client import Client

from gateway.contracts import config as configuration
from gateway.contracts.bus import ping_subject
from gateway.keys_cli import all_keys, create_key
from gateway.keycache import open_keys_bucket

DEMO_KEY_NAME = "demo"
READY_TIMEOUT_S = 120.0


def base_url() -> str:
    """The gateway's public base URL."""
    host = os.environ.get("GATEWAY_HOST", "127.0.0.1")
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{shown}:{os.environ.get('GATEWAY_PORT', '8080')}/v1"


def processes() -> list[str]:
    """Procfile entries to start."""
    names = ["gateway", "worker", "ledger"]
    return names if os.environ.get("NATS_URL") else ["nats", *names]


async def _connect(deadline: float) -> Client:
    while True:
        try:
            return await nats.connect(configuration.nats_url(), connect_timeout=1, max_reconnect_attempts=1)
        except (OSError, nats.errors.Error, asyncio.TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _workers_ready(nc: Client, providers: list[str], deadline: float) -> None:
    for provider in providers:
        while True:
            try:
                await nc.request(ping_subject(provider), b"", timeout=0.5)
                break
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no worker answered for provider '{provider}'") from None
                await asyncio.sleep(0.2)


async def _rotate_demo_key(nc: Client) -> str:
    """Remove earlier demo keys (their secrets were never stored) and make a new one."""
    kv = await open_keys_bucket(nc)
    for record in await all_keys(nc):
        if record.name == DEMO_KEY_NAME:
            await kv.delete(record.hash)
    _, secret = await create_key(nc, DEMO_KEY_NAME, ["*"], None, None, None)
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


async def prepare(config: configuration.Config) -> str:
    """Wait for NATS and the workers; return a fresh demo key."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    nc = await _connect(deadline)
    try:
        secret = await _rotate_demo_key(nc)
        await _workers_ready(nc, sorted(config.providers), deadline)
        return secret
    finally:
        await nc.close()


def main() -> int:
    """Run the stack in the foreground."""
    config = configuration.load()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    workers = os.environ.get("WORKER_PROCESSES", "1")
    command = [sys.executable, "-m", "honcho", "start", "-f", "Procfile", "-c", f"worker={workers}", *processes()]
    stack = subprocess.Popen(command, env=env)
    # NOTE: Ctrl-C reaches honcho too (same process group); it stops every process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stack.send_signal(signal.SIGTERM))
    try:
        secret = asyncio.run(prepare(config))
        _gateway_accepts(base_url(), secret, time.monotonic() + READY_TIMEOUT_S)
    except (TimeoutError, OSError, nats.errors.Error) as ex:
        print(f"\nstack did not become ready: {ex}", file=sys.stderr)
        stack.terminate()
        stack.wait()
        return 1
    url = base_url()
    print(
        "\n"
        "  LLM gateway ready\n"
        f"  base URL : {url}\n"
        f"  demo key : {secret}\n"
        f"  models   : {', '.join(m.id for m in config.models)}\n"
        f"  try      : curl {url}/chat/completions -H 'Authorization: Bearer {secret}' "
        "-H 'content-type: application/json' "
        "-d '{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}'\n"
        "  Ctrl-C stops everything.\n",
        flush=True,
    )
    return stack.wait()


if __name__ == "__main__":
    sys.exit(main())
