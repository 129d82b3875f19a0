"""What the gateway's gevent <-> asyncio bridge costs per request and per frame.

`python -m bench.bridge [--requests N]` starts nats-server, a zero-work responder (it
answers each request with F frames), and two clients in their own processes, one at a
time, each sending N sequential requests (concurrency 1) and waiting for all F frames:
- floor: plain asyncio nats-py with one multiplexed inbox (no gevent, no thread hop);
- bridge: `gateway.bus_client.Bridge` in a gevent-patched process, used from a greenlet,
  exactly as the gateway uses it.
It prints p50/p99 round trip and client CPU per request for F = 1 and F = 16, and the
derived bridge cost: per request (F = 1) and per extra frame.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUBJECT = "bench.bridge"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def responder(url: str) -> None:
    """Answer each request with the number of frames its payload asks for."""
    import asyncio

    import nats

    async def main() -> None:
        nc = await nats.connect(url)

        async def on_request(msg) -> None:  # type: ignore[no-untyped-def]
            for _ in range(int(msg.data)):
                await nc.publish(msg.reply, b"x" * 64)

        await nc.subscribe(SUBJECT, cb=on_request)
        await nc.flush()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def floor_client(url: str, frames: int, requests: int) -> dict[str, float]:
    """Plain asyncio: one inbox subscription, a future per request."""
    import asyncio

    import nats

    async def main() -> dict[str, float]:
        nc = await nats.connect(url)
        inbox = "_FLOOR.x."
        waiting: dict[str, tuple[asyncio.Future[None], list[int]]] = {}

        async def on_reply(msg) -> None:  # type: ignore[no-untyped-def]
            entry = waiting.get(msg.subject[len(inbox):])
            if entry is not None:
                entry[1][0] -= 1
                if entry[1][0] == 0:
                    entry[0].set_result(None)

        await nc.subscribe(inbox + "*", cb=on_reply)
        times = []
        cpu = _cpu()
        for i in range(requests):
            token = str(i)
            future = asyncio.get_running_loop().create_future()
            waiting[token] = (future, [frames])
            started = time.perf_counter()
            await nc.publish(SUBJECT, str(frames).encode(), reply=inbox + token)
            await future
            times.append(time.perf_counter() - started)
            del waiting[token]
        cpu = _cpu() - cpu
        await nc.close()
        return _summary(times, cpu, requests)

    return asyncio.run(main())


def bridge_client(url: str, frames: int, requests: int) -> dict[str, float]:
    """The gateway's bridge, driven from a greenlet in a patched process."""
    from gevent import monkey

    monkey.patch_all()
    from gateway.bus_client import Bridge
    from gateway.contracts.log import Logger

    bridge = Bridge(url, Logger("bench", open(os.devnull, "w")))
    bridge.start()
    assert bridge.wait_ready(10), "bridge did not connect"
    times = []
    cpu = _cpu()
    for _ in range(requests):
        started = time.perf_counter()
        reply = bridge.request(SUBJECT, str(frames).encode())
        for _ in range(frames):
            reply.get(5.0)
        reply.close()
        times.append(time.perf_counter() - started)
    cpu = _cpu() - cpu
    return _summary(times, cpu, requests)


def _summary(times: list[float], cpu: float, requests: int) -> dict[str, float]:
    return {"p50_us": _percentile(times, 0.5) * 1e6, "p99_us": _percentile(times, 0.99) * 1e6,
            "cpu_us": cpu / requests * 1e6}


def main(argv: list[str] | None = None) -> int:
    """Run both clients for 1 and 16 frames and print the comparison."""
    parser = argparse.ArgumentParser(prog="python -m bench.bridge")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--role", choices=["responder", "floor", "bridge"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "responder":
        responder(args.url)
        return 0
    if args.role in ("floor", "bridge"):
        run = floor_client if args.role == "floor" else bridge_client
        print(json.dumps(run(args.url, args.frames, args.requests)))
        return 0
    figures = compare(args.requests)
    print(f"{'client':<10} {'frames':>6} {'p50 us':>9} {'p99 us':>9} {'cpu us/req':>11}")
    for name, row in figures.items():
        role, frames = name.split("_f")
        print(f"{role:<10} {frames:>6} {row['p50_us']:>9.0f} {row['p99_us']:>9.0f} {row['cpu_us']:>11.0f}")
    per_request = figures["bridge_f1"]["p50_us"] - figures["floor_f1"]["p50_us"]
    per_request_cpu = figures["bridge_f1"]["cpu_us"] - figures["floor_f1"]["cpu_us"]
    extra = lambda role, key: (figures[f"{role}_f16"][key] - figures[f"{role}_f1"][key]) / 15  # noqa: E731
    print(f"bridge cost per request (F=1): +{per_request:.0f} us p50, +{per_request_cpu:.0f} us client CPU")
    print(f"per extra frame: floor {extra('floor', 'p50_us'):.1f} us / {extra('floor', 'cpu_us'):.1f} us CPU, "
          f"bridge {extra('bridge', 'p50_us'):.1f} us / {extra('bridge', 'cpu_us'):.1f} us CPU")
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def compare(requests: int) -> dict[str, dict[str, float]]:
    """Start the server and responder, run every client, return the figures."""
    from gateway.ops.natsd import server_args

    port = _free_port()
    url = f"nats://127.0.0.1:{port}"
    me = [sys.executable, "-m", "bench.bridge", "--url", url, "--requests", str(requests)]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as store:
        server = subprocess.Popen(server_args(str(port), Path(store), None), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        responder_proc = None
        try:
            time.sleep(0.5)
            responder_proc = subprocess.Popen([*me, "--role", "responder"], stdout=subprocess.PIPE, text=True)
            assert responder_proc.stdout is not None and responder_proc.stdout.readline().strip() == "ready"
            for frames in (1, 16):
                for role in ("floor", "bridge"):
                    out = subprocess.run([*me, "--role", role, "--frames", str(frames)], capture_output=True,
                                         text=True, timeout=300, check=True)
                    results[f"{role}_f{frames}"] = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            for proc in (responder_proc, server):
                if proc is not None:
                    proc.terminate()
                    proc.wait(10)
    return results


if __name__ == "__main__":
    sys.exit(main())
